"""How an operator command (`hub status`, `demo`, `exceptions`, `flags`, `pin`) reaches the
ledger: a command that only reads or mends must never create a SQLite ledger where none
is (a typo in `--db` would otherwise leave an empty ledger behind and report nothing
wrong), and a bad URL or pepper file is a setting error in words, not a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import ConfigError, HubConfig

if TYPE_CHECKING:  # the ledger is imported when a command opens it, not at start
    from hub.ledger.ledger import Ledger


def missing_ledger(url: str) -> Path | None:
    """The path of a SQLite ledger that does not exist yet, else None (PostgreSQL, an
    in-memory ledger, or a file that is there)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if str(path) != ":memory:" and not path.exists():
            return path
    return None


def say_no_ledger(path: Path) -> None:
    """The one line an operator command prints when `missing_ledger` found no ledger."""
    print(f"hub: no ledger at {path} (start the hub first, or pass --db)", file=sys.stderr)


def open_ledger(config: HubConfig) -> Ledger:
    """The ledger of `config` with its PIN pepper file; ConfigError naming what is wrong."""
    from hub.ledger.ledger import Ledger, LedgerUrlError
    from hub.pki.pin_pepper import PinPepperError

    try:
        return Ledger.open(config.db, config.pin_pepper_file)
    except (LedgerUrlError, PinPepperError) as exc:
        raise ConfigError(str(exc)) from None
