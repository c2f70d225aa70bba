"""The simulated library's circulation rules: checkout, checkin with routing, renew.

Nothing here knows SIP2; `server.py` turns these outcomes into responses. What a caller
may rely on:

- A checkout of an item already charged to the same patron succeeds again as a renewal
  (`renewal=True`) without moving the due date, so a retried checkout is idempotent;
  with the library's `repeat_checkout = "refuse"` it fails instead ("item already
  checked out to this patron", nothing changed), as some systems answer, so a client
  must look at the patron's record to know its earlier checkout arrived.
- A checkin of an item that is not charged fails with the message "item not checked out";
  it never changes state, so a duplicated checkin is visible to the sender as a conflict.
- A successful checkin says where the item goes: `alert_type` "01" (hold here, it stays
  on this hold shelf), "02" (hold at another location: `destination`), "04" (it belongs
  to another library: `destination` is its home), or None (it stays here).
- Every change is written to the state file (when one is given) before the outcome is
  returned, so a simulator stopped and started on the same state file keeps who has what.
- All methods are thread-safe (tests inspect from another thread than the server's).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ils_sim.library import Hold, Item, Library, Patron
from ils_sim.private_files import replace_private

ALERT_HOLD_HERE = "01"
ALERT_HOLD_ELSEWHERE = "02"
ALERT_TRANSFER = "04"

NOT_CHECKED_OUT = "item not checked out"
ALREADY_OUT_TO_PATRON = "item already checked out to this patron"


@dataclass(frozen=True)
class Outcome:
    """The answer to one circulation request. `title`, `due`, `location` describe the item
    (empty when unknown); `patron` is who had it (checkin) or has it now."""

    ok: bool
    message: str = ""
    title: str = ""
    due: date | None = None
    location: str = ""
    patron: str | None = None
    renewal: bool = False
    alert_type: str | None = None
    destination: str | None = None


class Circulation:
    """The library's records plus the rules that change them (see the module docstring)."""

    def __init__(
        self,
        library: Library,
        *,
        state_file: Path | str | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.library = library
        self._state_file = Path(state_file) if state_file is not None else None
        self._clock = clock
        self._lock = threading.RLock()
        if self._state_file is not None and self._state_file.exists():
            restore_state(library, self._state_file)

    # -- questions -------------------------------------------------------------

    def patron(self, patron_id: str) -> Patron | None:
        return self.library.patrons.get(patron_id)

    def item(self, barcode: str) -> Item | None:
        with self._lock:
            return self.library.items.get(barcode)

    def charged_items(self, patron_id: str) -> list[str]:
        with self._lock:
            return self.library.charged_to(patron_id)

    def pin_ok(self, patron: Patron, pin: str | None) -> bool:
        """True when the PIN matches; a patron without a PIN (a guest) accepts any."""
        return patron.pin is None or pin == patron.pin

    # -- changes ---------------------------------------------------------------

    def checkout(
        self, patron_id: str, barcode: str, *, pin: str | None = None, no_block: bool = False
    ) -> Outcome:
        """Charge the item to the patron (see the module docstring for the retry rule).

        `no_block` (the SC already lent it offline) skips the patron-blocked check only.
        """
        with self._lock:
            patron = self.library.patrons.get(patron_id)
            item = self.library.items.get(barcode)
            if patron is None:
                return Outcome(False, "unknown patron", **_describe(item))
            if pin and not self.pin_ok(patron, pin):
                return Outcome(False, "invalid patron password", **_describe(item))
            if patron.blocked and not no_block:
                return Outcome(False, _blocked_message(patron), **_describe(item))
            if item is None:
                return Outcome(False, "unknown item")
            if item.status == "charged":
                if item.patron == patron_id and self.library.repeat_checkout == "refuse":
                    return Outcome(False, ALREADY_OUT_TO_PATRON, **_describe(item))
                if item.patron == patron_id:
                    return Outcome(True, "already checked out to this patron", renewal=True,
                                   **_describe(item))  # fmt: skip
                return Outcome(False, "item checked out to another patron", **_describe(item))
            if item.status in ("missing", "in_transit"):
                return Outcome(False, f"item {item.status.replace('_', ' ')}", **_describe(item))
            if item.holds and item.holds[0].patron != patron_id:
                return Outcome(False, "item on hold for another patron", **_describe(item))
            if item.holds:
                item.holds.pop(0)
            item.status, item.patron, item.renewals = "charged", patron_id, 0
            item.due = self._today() + timedelta(days=self.library.loan_days)
            self._save()
            return Outcome(True, "checked out", **_describe(item))

    def checkin(self, barcode: str, *, location: str) -> Outcome:
        """Discharge the item returned at `location` and say where it must go next."""
        with self._lock:
            item = self.library.items.get(barcode)
            if item is None:
                return Outcome(False, "unknown item")
            if item.status != "charged":
                return Outcome(False, NOT_CHECKED_OUT, **_describe(item))
            had = item.patron
            item.due, item.renewals = None, 0
            alert, destination = None, None
            if item.holds:
                hold = item.holds[0]
                item.patron = hold.patron
                if hold.pickup == location:
                    item.status, alert, destination = "on_hold_shelf", ALERT_HOLD_HERE, location
                else:
                    item.status, alert = "in_transit", ALERT_HOLD_ELSEWHERE
                    destination = hold.pickup
            elif location and location != item.location:
                item.status, item.patron = "in_transit", None
                alert, destination = ALERT_TRANSFER, item.location
            else:
                item.status, item.patron = "available", None
            self._save()
            described = _describe(item) | {"patron": had}
            return Outcome(True, "checked in", alert_type=alert, destination=destination,
                           **described)  # fmt: skip

    def place_hold(self, barcode: str, patron_id: str, pickup: str) -> None:
        """A hold placed at the library's own desk (not over SIP2): queued behind any
        other; the item's loan stays as it is. KeyError for an unknown barcode."""
        with self._lock:
            self.library.items[barcode].holds.append(Hold(patron_id, pickup))
            self._save()

    def renew(self, patron_id: str, barcode: str, *, pin: str | None = None) -> Outcome:
        """Extend the loan by the loan period from today, within `max_renewals`."""
        with self._lock:
            patron = self.library.patrons.get(patron_id)
            item = self.library.items.get(barcode)
            if patron is None:
                return Outcome(False, "unknown patron", **_describe(item))
            if pin and not self.pin_ok(patron, pin):
                return Outcome(False, "invalid patron password", **_describe(item))
            if item is None:
                return Outcome(False, "unknown item")
            if item.status != "charged" or item.patron != patron_id:
                return Outcome(False, "item not checked out to this patron", **_describe(item))
            if patron.blocked:
                return Outcome(False, _blocked_message(patron), **_describe(item))
            if any(h.patron != patron_id for h in item.holds):
                return Outcome(False, "item has a hold for another patron", **_describe(item))
            if item.renewals >= self.library.max_renewals:
                return Outcome(False, "renewal limit reached", **_describe(item))
            item.renewals += 1
            item.due = self._today() + timedelta(days=self.library.loan_days)
            self._save()
            return Outcome(True, "renewed", renewal=True, **_describe(item))

    # -- persistence -----------------------------------------------------------

    def _today(self) -> date:
        return self._clock().date()

    def _save(self) -> None:
        if self._state_file is not None:
            save_state(self.library, self._state_file)


def _describe(item: Item | None) -> dict[str, object]:
    if item is None:
        return {}
    return {"title": item.title, "due": item.due, "location": item.location,
            "patron": item.patron}  # fmt: skip


def _blocked_message(patron: Patron) -> str:
    return f"patron blocked: {patron.block_reason}" if patron.block_reason else "patron blocked"


def save_state(library: Library, path: Path) -> None:
    """Write every item's circulation state (not titles) to `path`, atomically, 0600."""
    doc = {
        "items": {
            b: {
                "status": i.status,
                "patron": i.patron,
                "due": i.due.isoformat() if i.due else None,
                "renewals": i.renewals,
                "holds": [{"patron": h.patron, "pickup": h.pickup} for h in i.holds],
            }
            for b, i in library.items.items()
        }
    }
    replace_private(path, json.dumps(doc, ensure_ascii=False, indent=1))


def restore_state(library: Library, path: Path) -> None:
    """Overlay the circulation state saved in `path` on the library's items.

    Items in the state file that the data no longer has are ignored.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    for barcode, saved in doc.get("items", {}).items():
        item = library.items.get(barcode)
        if item is None:
            continue
        item.status = saved["status"]
        item.patron = saved.get("patron")
        item.due = date.fromisoformat(saved["due"]) if saved.get("due") else None
        item.renewals = int(saved.get("renewals", 0))
        item.holds = [Hold(h["patron"], h["pickup"]) for h in saved.get("holds", [])]
