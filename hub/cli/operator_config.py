"""Which hub settings an operator command reads when none is named.

`make run` leaves one operator config, `var/lab/hub.toml` (`hub.lab.lab.Lab.operator_config`):
the lab's TLS broker, its ledger, the signing key, the PKI (and with it the operator's
`hub` identity) and the `[sip2]` tables of the members' own systems. So `python -m hub
status`, `command`, `exceptions`, `demo`, `enroll`, `revoke`, `sip2-check` and a scenario
play (`python -m kiosk_tools --sim --headless --script FILE`) work against that lab as
README writes them, without `--config`.

The search, first match wins:

1. `--config FILE` on the command line;
2. the environment variable `ALLIANCE_HUB_CONFIG` (a file that must exist);
3. `./var/lab/hub.toml`, when it exists (the lab `make run` set up in this directory).

When 2 or 3 decides, one line on stderr says which file was used, so an operator never
acts on a setup without being told which. A hub worker (`python -m hub` without a
subcommand) names its own config: it is not an operator command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from contract.settings import ConfigError

ENV_VAR = "ALLIANCE_HUB_CONFIG"
LAB_CONFIG = Path("var") / "lab" / "hub.toml"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def find_config(
    given: str | Path | None,
    *,
    say: Callable[[str], None] = _say,
    environ: dict[str, str] | os._Environ[str] | None = None,
    cwd: Path | None = None,
) -> str | None:
    """The settings file an operator command reads: `given` when set, else
    `$ALLIANCE_HUB_CONFIG`, else `./var/lab/hub.toml` when present, else None (the
    built-in defaults). Raises ConfigError when `$ALLIANCE_HUB_CONFIG` names no file."""
    if given:
        return str(given)
    env = os.environ if environ is None else environ
    named = env.get(ENV_VAR, "").strip()
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"{ENV_VAR}={named}: no such file (unset it, or point it at a hub config)")
        say(f"hub: using {named} (from {ENV_VAR})")
        return named
    lab = (cwd or Path.cwd()) / LAB_CONFIG
    if lab.is_file():
        shown = LAB_CONFIG if cwd is None else lab
        say(f"hub: using {shown} (the lab `make run` set up; --config FILE or {ENV_VAR} for another)")
        return str(shown)
    return None


# The `python -m hub` subcommands that act for an operator on a running alliance (not a
# worker, not the PKI's own init): they read the config `find_config` finds.
OPERATOR_COMMANDS = frozenset({"status", "command", "demo", "exceptions", "flags", "pin", "sip2-check", "enroll", "revoke", "ecard"})


def config_for(command: str | None, given: str | None) -> str | None:
    """The config `python -m hub COMMAND` reads: `find_config` for an operator command,
    else `given` as it is (a worker names its own)."""
    if command in OPERATOR_COMMANDS:
        return find_config(given)
    return given
