"""`python -m firmware`: the kiosk's command line (see `kiosk_tools.cli`).

The command line is the composition root: it may wire the simulator, the touchscreen
and the scenario tools around the firmware, so it lives above every layer and this
module only hands over to it (the one import the layer contract allows upward).
"""

from __future__ import annotations

import sys

from kiosk_tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
