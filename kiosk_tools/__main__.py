"""`python -m kiosk_tools`: the kiosk's command (kiosk_tools.cli).

The command lives with the composition root, which wires the simulator, the touchscreen
and the scenario tools around the firmware, so no layer imports upward to start the
kiosk. The Pi's unit starts it through each release's own `bin/kiosk-launch`
(deploy/kiosk-launch), never by this name, so a release may rename it (docs/pi.md).
"""

from __future__ import annotations

import sys

from kiosk_tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
