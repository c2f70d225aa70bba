"""Which kiosks the hub serves: those the alliance PKI enrolled and has not revoked
(`kiosks.json` in the PKI directory, written by `hub.pki.pki`).

The broker already refuses a kiosk without a valid certificate, but only when it runs the
TLS listener, and it cuts a revoked kiosk only at its next connection. This check is the
hub's own: with `[hub] pki_dir` set, a txn or request on the topic of a kiosk that is not
enrolled (or is revoked) is refused, and a txn must name the library the kiosk was
enrolled for.

What a caller may rely on: `problem()` never raises. The table is read again when the
file changes (a `revoke` takes effect on the next message, no restart); a table that
cannot be read (missing, readable by others, not JSON) enrols nobody and is logged once
per change, so a broken PKI fails closed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hub.pki.pki_files import PkiError, PkiPaths, enrolled_kiosks

log = logging.getLogger(__name__)

KIOSK_NOT_ENROLLED = "kiosk_not_enrolled"
KIOSK_REVOKED = "kiosk_revoked"
LIBRARY_MISMATCH = "library_mismatch"


class Enrolment:
    """The enrolled kiosks of one PKI directory, read from its `kiosks.json`."""

    def __init__(self, pki_dir: str | Path) -> None:
        self.path = PkiPaths(Path(pki_dir)).kiosks
        self._root = Path(pki_dir)
        self._stamp: tuple[int, int, int] | None = None
        self._kiosks: dict[str, dict] = {}

    def problem(self, kiosk_id: str, library_id: str | None = None) -> str | None:
        """Why `kiosk_id` may not be served (`kiosk_not_enrolled`, `kiosk_revoked`, or
        `library_mismatch` when `library_id` is given and is not its enrolled library);
        None when it may."""
        entry = self._table().get(kiosk_id)
        if not isinstance(entry, dict):
            return KIOSK_NOT_ENROLLED
        if entry.get("revoked_at") is not None:
            return KIOSK_REVOKED
        if library_id is not None and entry.get("library_id") != library_id:
            return LIBRARY_MISMATCH
        return None

    def _table(self) -> dict[str, dict]:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp == self._stamp and stamp is not None:
            return self._kiosks
        try:
            table = enrolled_kiosks(self._root)
            kiosks = table if isinstance(table, dict) else {}
        except (PkiError, OSError, ValueError, AttributeError) as exc:
            log.error("enrolment table unusable, serving no kiosk: %s", exc)
            kiosks = {}
        # The table before its stamp: a thread that sees the new stamp finds its table.
        self._kiosks = kiosks
        self._stamp = stamp
        return kiosks
