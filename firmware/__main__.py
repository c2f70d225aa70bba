"""`python -m firmware`: the kiosk's command line (see `kiosk_tools.cli`).

The command line is the composition root: it may wire the simulator, the touchscreen
and the scenario tools around the firmware, so it lives above every layer and this
module only hands over to it. That is the one import the layer contracts allow upward
(pyproject.toml), kept because `python -m firmware` is the command the Pi's launcher
and updater run from each release (deploy/kiosk-launch, deploy/kiosk-update) and the
one technicians and the docs use, and `-m firmware` can only run this file. Nothing
imports this module, so the exception cannot carry the simulator into the kiosk.
"""

from __future__ import annotations

import sys

from kiosk_tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
