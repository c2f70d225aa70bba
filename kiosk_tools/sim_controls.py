"""The simulated world's controls for demos (the UI's simulator panel, the console):
tap a card, scan or drop a book, jam the chute, cut the route to the hub."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from firmware.assembly import Kiosk
from hal_sim.chute_sim import ChuteBlocked
from kiosk_tools.demo_route import DemoRoute

log = logging.getLogger("kiosk_tools.sim")


def wait_until_reader_sees_no_card(kiosk: Kiosk, timeout_s: float = 3.0) -> bool:
    """Block until the kiosk's card reader has reported the card gone (it needs a few
    empty polls, `removal_polls`), so that a card laid back is a new arrival."""
    reader = kiosk.runtime.devices.card_reader
    deadline = time.monotonic() + timeout_s
    while reader.present_uid is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(reader.interval_s / 2)
    return True


@dataclass
class KioskSimControls:
    """`kiosk_ui.SimControls` over a simulated kiosk. "Hub down" cuts the kiosk's
    network path (`route`, a proxy between kiosk and broker), never the link itself:
    by default a black hole, as a dropped 4G route is, which the kiosk notices within
    a few seconds; "hub up" restores the route and the link reconnects on its own."""

    kiosk: Kiosk
    route: DemoRoute

    @property
    def _rig(self):  # type: ignore[no-untyped-def]
        assert self.kiosk.rig is not None, "simulator controls need --sim"
        return self.kiosk.rig

    def tap(self, number: str) -> None:
        """Lay a card on the reader. A card already there is lifted off first, and the
        reader is given the time to see it go: tapping the same card again is a new
        tap, as it is at a real kiosk, never silently the same one."""
        if self._rig.chip.field.cards:
            self._rig.remove()
            wait_until_reader_sees_no_card(self.kiosk)
        self._rig.tap(number)

    def remove(self) -> None:
        self._rig.remove()

    def scan(self, barcode: str) -> None:
        self._rig.desk.scan(barcode)

    def drop(self, barcode: str) -> None:
        """A jammed chute takes no book: the panel's drop does nothing then (the kiosk
        shows it is out of service), and the log says why."""
        try:
            self._rig.drop(barcode)
        except ChuteBlocked as blocked:
            log.warning("simulator: book not dropped: %s", blocked)

    def jam(self) -> None:
        self._rig.chute.jam("entry")

    def clear(self) -> None:
        self._rig.chute.clear()

    def hub_down(self, *, refuse: bool = False) -> None:
        """Black-hole the route (or, with `refuse`, close and refuse every connection)."""
        self.route.down(refuse=refuse)

    def hub_up(self) -> None:
        self.route.up()

    def demo_cards(self) -> list[tuple[str, str]]:
        """A few of the hub's demo readers, one of each kind of trouble, PIN in the label."""
        from contract.privacy import mask_name
        from hub.ledger.catalogue import generate_readers
        from hub.rules.registry import load_registry

        wanted: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for reader in generate_readers(load_registry()):
            kind = (reader.scheme, reader.state)
            if kind in seen:
                continue
            seen.add(kind)
            pin = f" PIN {reader.pin}" if reader.state == "valid" else f" ({reader.state})"
            wanted.append((f"{reader.scheme} {mask_name(reader.name)}{pin}", reader.number))
        return wanted

    def _library_id(self) -> str:
        """The kiosk's library (the Capital Library's in `make run`)."""
        core_config = getattr(self.kiosk.runtime, "core_config", None)
        return getattr(core_config, "library_id", None) or "capital"

    def demo_books(self) -> list[tuple[str, str]]:
        """Books of several members, those the demo reader (the joint card README taps)
        may borrow at this kiosk first, by the loan rules on the demo catalogue's states:
        a newcomer's first scan is lent. Then books the rules refuse here (in transit,
        on loan, ...), and last the books of a library that lends nothing now (the
        National Library's, while its lending is suspended): they still show a return
        that travels home."""
        from datetime import UTC, datetime

        from hub.ledger import catalogue
        from hub.ledger.demo_loans import DEMO_LIBRARIES, generated_items, loanable_first
        from hub.rules.registry import load_registry

        registry = load_registry()
        here = self._library_id()
        holder = catalogue.HOLDER_NUMBER
        reader = next(r for r in catalogue.generate_readers(registry) if r.number == holder)
        libraries = [here, *(lid for lid in DEMO_LIBRARIES if lid != here)]
        labels = {
            catalogue.item_barcode(
                registry, lid, serial
            ): f"{registry.member(lid).name_zh} #{serial}"
            for lid in libraries
            if lid in registry.members
            for serial in (1, 2)
        }
        item_of = generated_items(registry, libraries)
        order = loanable_first(
            registry, reader.record(), here, list(labels), item_of, datetime.now(UTC)
        )
        return [(labels[barcode], barcode) for barcode in order]
