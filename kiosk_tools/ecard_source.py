"""Where a scenario's `ecard CARD [expired]` step gets its token (issue 19 item 4): from
the hub, as a reader's app would, by `python -m hub ecard CARD --kiosk KIOSK`. That
command finds the hub's operator settings as every operator command does
(`$ALLIANCE_HUB_CONFIG`, else `make run`'s `var/lab/hub.toml`; hub/cli/operator_config.py),
so the scenario runner needs neither the hub's key nor its ledger.

What a caller may rely on: `issue_token` returns the token text alone, or raises
`EcardUnavailable` with the hub's own words; the card number is passed on the command
line of a child process, never printed.
"""

from __future__ import annotations

import subprocess
import sys

# An expired token: issued this long ago, good for a minute (hub/ledger/ecard_tokens.py).
EXPIRED_AGE_S = 120


class EcardUnavailable(RuntimeError):
    """The hub would not issue a token (no settings, no ledger, no such card)."""


def issue_token(card: str, kiosk_id: str, expired: bool = False, timeout_s: float = 30.0) -> str:
    """A token for `card` at `kiosk_id` from the hub: good for a minute, or expired."""
    argv = [sys.executable, "-m", "hub", "ecard", card, "--kiosk", kiosk_id]
    if expired:
        argv += ["--age", str(EXPIRED_AGE_S)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EcardUnavailable(f"python -m hub ecard did not run: {type(exc).__name__}") from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        raise EcardUnavailable(f"python -m hub ecard failed: {done.stderr.strip()[-300:]}")
    return token
