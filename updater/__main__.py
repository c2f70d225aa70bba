"""`python -m updater`: the root updater's entry (updater.cli)."""

from __future__ import annotations

import sys

from updater.cli import main

if __name__ == "__main__":
    sys.exit(main())
