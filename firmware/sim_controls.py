"""The simulated world's controls for demos (the UI's simulator panel, the console):
tap a card, scan or drop a book, jam the chute, cut the hub link."""

from __future__ import annotations

from dataclasses import dataclass

from firmware.assembly import Kiosk


@dataclass
class KioskSimControls:
    """`kiosk_ui.SimControls` over a simulated kiosk. Cutting the hub stops the kiosk's
    link (as a dead 4G modem would); restoring starts a new one on the same journal."""

    kiosk: Kiosk

    @property
    def _rig(self):  # type: ignore[no-untyped-def]
        assert self.kiosk.rig is not None, "simulator controls need --sim"
        return self.kiosk.rig

    def tap(self, number: str) -> None:
        self._rig.remove()
        self._rig.tap(number)

    def remove(self) -> None:
        self._rig.remove()

    def scan(self, barcode: str) -> None:
        self._rig.desk.scan(barcode)

    def drop(self, barcode: str) -> None:
        self._rig.drop(barcode)

    def jam(self) -> None:
        self._rig.chute.jam("entry")

    def clear(self) -> None:
        self._rig.chute.clear()

    def hub_down(self) -> None:
        self.kiosk.cut_link()

    def hub_up(self) -> None:
        self.kiosk.restore_link()
