"""The whole kiosk's hardware, emulated at the lowest layer, with the real drivers on top.

`SimRig` owns the emulated MFRC522, two scanner pseudo-terminals (desk and chute), the
simulated chute's pins and the output pins; `devices` is the same `DeviceSet` a Pi
builds, so everything above runs unchanged. Handles read like the world:
`rig.tap("0110000012345")`, `rig.desk.scan("3010...")`, `rig.drop("3010...")`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.card_reader import CardReader
from drivers.chute import Chute
from drivers.events import Post
from drivers.mfrc522 import MFRC522
from drivers.outputs import Outputs
from drivers.scanner import BarcodeScanner
from firmware.devices import DeviceSet, SelfTestAids
from hal_sim.cards import VirtualCard, library_card
from hal_sim.chute_sim import SimPinFactory, SimulatedChute
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.scanner_pty import SimulatedScanner

ENTRY_PIN = "GPIO17"
EXIT_PIN = "GPIO27"
FLAP_PIN = "GPIO22"
LED_PIN = "GPIO23"
BUZZER_PIN = "GPIO24"
TEST_CARD_NUMBER = "TESTCARD"

SIM_FAULTS = ("reader-silent", "scanner-unplugged", "chute-scanner-unplugged", "beam-stuck")


@dataclass
class SimTiming:
    """Timings of the simulated devices; tests shorten the jam time."""

    poll_interval_s: float = 0.05
    jam_after_s: float = 3.0
    bounce_s: float = 0.005
    min_gap_s: float = 0.3
    pull_back_after_s: float = 2.0


@dataclass
class SimRig:
    post: Post
    timing: SimTiming = field(default_factory=SimTiming)
    suffix: str = "CR"

    def __post_init__(self) -> None:
        self.chip = EmulatedMFRC522()
        self.desk = SimulatedScanner(self.suffix, name="desk-scanner")  # type: ignore[arg-type]
        self.chute_scanner = SimulatedScanner(self.suffix, name="chute-scanner")  # type: ignore[arg-type]
        self.pins = SimPinFactory()
        self.chute = SimulatedChute(self.pins, ENTRY_PIN, EXIT_PIN)
        self._cards: list[VirtualCard] = []
        t = self.timing
        reader = CardReader(MFRC522(self.chip), self.post, interval_s=t.poll_interval_s)
        self.devices = DeviceSet(
            card_reader=reader,
            scanner=BarcodeScanner(self.desk.port, self.post, suffix=self.suffix, source="desk"),  # type: ignore[arg-type]
            chute_scanner=BarcodeScanner(
                self.chute_scanner.port, self.post, suffix=self.suffix, source="chute"  # type: ignore[arg-type]
            ),
            chute=Chute(
                self.post,
                entry_pin=ENTRY_PIN,
                exit_pin=EXIT_PIN,
                pin_factory=self.pins,
                bounce_s=t.bounce_s,
                jam_after_s=t.jam_after_s,
                min_gap_s=t.min_gap_s,
                pull_back_after_s=t.pull_back_after_s,
            ),
            outputs=Outputs(self.pins, flap_pin=FLAP_PIN, led_pin=LED_PIN, buzzer_pin=BUZZER_PIN),
            aids=SelfTestAids(
                desk_readback=self.desk.scan,
                chute_readback=self.chute_scanner.scan,
                exercise_beams=self.chute.exercise,
                present_test_card=lambda: self.chip.field.present(self._test_card()),
                remove_test_card=self.chip.field.clear,
            ),
        )
        self.devices._closers += [self.desk.close, self.chute_scanner.close]

    # -- the world --------------------------------------------------------------------

    def tap(self, number: str, uid: bytes | None = None) -> VirtualCard:
        card = library_card(number, uid)
        self.chip.field.present(card)
        self._cards.append(card)
        return card

    def remove(self) -> None:
        while self._cards:
            self.chip.field.remove(self._cards.pop())

    def drop(self, barcode: str) -> None:
        """A book falls in: the chute's in-line scanner reads it, then it passes the beams."""
        self.chute_scanner.scan(barcode)
        self.chute.drop()

    def inject_fault(self, name: str) -> None:
        """Break the simulated hardware the way the named fault looks in the field."""
        if name == "reader-silent":
            self.chip.hang()
        elif name == "scanner-unplugged":
            self.desk.unplug()
        elif name == "chute-scanner-unplugged":
            self.chute_scanner.unplug()
        elif name == "beam-stuck":
            self.chute.stick("entry")
        else:
            raise ValueError(f"unknown simulated fault {name!r}; known: {', '.join(SIM_FAULTS)}")

    def _test_card(self) -> VirtualCard:
        return library_card(TEST_CARD_NUMBER)

    def close(self) -> None:
        self.devices.close()
