"""The whole kiosk's hardware, emulated at the lowest layer, wired to the pins it is
given; the real drivers go on top, built by the same builder a Pi uses.

`SimRig` owns the emulated card reader chip, an MFRC522 or, with `card_chip="pn5180"`,
a PN5180 (its NRSTPD or RST input wired to `reset_pin`, the PN5180's BUSY handed over
as `transports.card_busy`), two
scanner pseudo-terminals (desk and chute), the simulated chute on `entry_pin` and
`exit_pin`, and the outputs on their pins, all on one `SimPinFactory`. It builds no
driver: `transports` is what the device builder (`firmware.devices.build_devices`)
opens instead of a Pi's spidev, serial ports and GPIO, so everything above runs
unchanged (OctoPrint's virtual printer). Whoever builds the rig names the pins, from
the same config the builder reads; the simulator and the drivers meet on them.

Handles read like the world: `rig.tap("0110000012345")`, `rig.desk.scan("3010...")`,
`rig.drop("3010...")`, `rig.chute.jam()`, `rig.outputs.flap_diverted`,
`rig.security_unit.mode = "silent"` (when a security unit is wired).

With RFID tag readers (`rfid=RfidWiring(...)`): `rig.pad` and `rig.chute_rfid` are their
emulated PN5180s (None when not fitted); `rig.place(*tags)` lays tags on the lending
pad as one stack, `rig.lift(*tags)` takes them off (all, with no tags),
`rig.drop_tag(tag)` drops a tagged book into the chute (read by the chute's reader,
then through the beams, and left lying in its field), `rig.tag_secured(tag)` is what an
exit gate would say of it, by the library's convention. Tags are
hal_sim.library_tags'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from drivers.diagnostics import SelfTestAids
from drivers.scanner import Suffix
from drivers.transports import DeviceTransports, RfidLink
from hal_sim.cards import VirtualCard, library_card
from hal_sim.chute_sim import SimulatedChute
from hal_sim.em_unit import SimulatedEmGpioUnit, SimulatedEmSerialUnit
from hal_sim.gpio import PinSpec, SimPinFactory
from hal_sim.iso15693_tag import Iso15693Tag
from hal_sim.library_tags import library_tag
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.outputs_sim import SimulatedOutputs
from hal_sim.pn5180_chip import EmulatedPN5180
from hal_sim.scanner_pty import SimulatedScanner

TEST_CARD_NUMBER = "TESTCARD"
TEST_TAG_ITEM = "TESTTAG"
TAG_READ_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RfidWiring:
    """Which PN5180 tag readers are fitted ([devices.rfid_pad], [devices.chute_rfid]),
    their RST pins, and the library's convention ([rfid]), which says what `tag_secured`
    means."""

    pad: bool = False
    chute: bool = False
    pad_reset_pin: PinSpec | None = None
    chute_reset_pin: PinSpec | None = None
    convention: str = "afi"
    afi_in_stock: int = 0x07


@dataclass(frozen=True)
class SecurityWiring:
    """How the kiosk's EM security unit is wired ([security] in the config): "em_gpio"
    on the trigger and confirm pins, or "em_serial" with its command lines."""

    kind: str
    unsecure_pin: PinSpec | None = None
    secure_pin: PinSpec | None = None
    confirm_pin: PinSpec | None = None
    unsecure_command: str = "DESENS"
    secure_command: str = "RESENS"
    ok_answer: str = "OK"


def _security_unit(
    pins: SimPinFactory, wiring: SecurityWiring | None
) -> SimulatedEmGpioUnit | SimulatedEmSerialUnit | None:
    if wiring is None or wiring.kind == "none":
        return None
    if wiring.kind == "em_gpio":
        assert wiring.unsecure_pin is not None and wiring.secure_pin is not None
        return SimulatedEmGpioUnit(
            pins,
            unsecure_pin=wiring.unsecure_pin,
            secure_pin=wiring.secure_pin,
            confirm_pin=wiring.confirm_pin,
        )
    if wiring.kind == "em_serial":
        return SimulatedEmSerialUnit(
            unsecure_command=wiring.unsecure_command,
            secure_command=wiring.secure_command,
            ok_answer=wiring.ok_answer,
        )
    raise ValueError(f"unknown security unit kind {wiring.kind!r}")

SIM_FAULTS = ("reader-silent", "scanner-unplugged", "chute-scanner-unplugged", "beam-stuck", "rfid-reader-silent")


class SimRig:
    """The simulated hardware of one kiosk; `close()` removes the ptys (idempotent).
    Closing the transports (as the device set built on them does) closes the rig."""

    def __init__(
        self,
        *,
        entry_pin: PinSpec,
        exit_pin: PinSpec,
        reset_pin: PinSpec | None = None,
        flap_pin: PinSpec | None = None,
        led_pin: PinSpec | None = None,
        buzzer_pin: PinSpec | None = None,
        desk_suffix: Suffix = "CR",
        chute_suffix: Suffix = "CR",
        security: SecurityWiring | None = None,
        card_chip: str = "mfrc522",
        rfid: RfidWiring | None = None,
    ) -> None:
        self.pins = SimPinFactory()
        self.chip: EmulatedMFRC522 | EmulatedPN5180
        card_busy = None
        if card_chip == "mfrc522":
            self.chip = EmulatedMFRC522()
            reset_input = self.chip.drive_nrstpd
        elif card_chip == "pn5180":
            self.chip = EmulatedPN5180()
            reset_input, card_busy = self.chip.drive_reset, self.chip.busy
        else:
            raise ValueError(f"unknown card reader chip {card_chip!r}")
        if reset_pin is not None:
            self.pins.sim_pin(reset_pin).watch(reset_input)
        self.desk = SimulatedScanner(desk_suffix, name="desk-scanner")
        self.chute_scanner = SimulatedScanner(chute_suffix, name="chute-scanner")
        self.chute = SimulatedChute(self.pins, entry_pin, exit_pin)
        self.outputs = SimulatedOutputs(
            self.pins, flap_pin=flap_pin, led_pin=led_pin, buzzer_pin=buzzer_pin
        )
        self.security_unit = _security_unit(self.pins, security)
        self.rfid = rfid or RfidWiring()
        self.pad = self._tag_reader(self.rfid.pad, self.rfid.pad_reset_pin)
        self.chute_rfid = self._tag_reader(self.rfid.chute, self.rfid.chute_reset_pin)
        self._test_tag: Iso15693Tag | None = None
        self._cards: list[VirtualCard] = []
        self._test_card: VirtualCard | None = None
        self._closed = False
        self.transports = DeviceTransports(
            spi=self.chip,
            desk_port=self.desk.port,
            chute_port=self.chute_scanner.port,
            pin_factory=self.pins,
            aids=SelfTestAids(
                desk_readback=self.desk.scan,
                chute_readback=self.chute_scanner.scan,
                exercise_beams=self.chute.exercise,
                present_test_card=self._present_test_card,
                remove_test_card=self._remove_test_card,
                present_test_tag=self._present_test_tag if self.pad is not None else None,
                remove_test_tag=self._remove_test_tag if self.pad is not None else None,
            ),
            rfid={
                name: RfidLink(chip, chip.busy)
                for name, chip in (("rfid_pad", self.pad), ("chute_rfid", self.chute_rfid))
                if chip is not None
            },
            on_close=[self.close],
            card_busy=card_busy,
            security_port=(
                self.security_unit.port
                if isinstance(self.security_unit, SimulatedEmSerialUnit)
                else None
            ),
        )

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
        """A book falls in: the chute's in-line scanner reads it, then it passes the beams.
        A jammed chute takes no book (ChuteBlocked, before anything is read)."""
        self.chute.refuse_if_jammed()
        self.chute_scanner.scan(barcode)
        self.chute.drop()

    def _tag_reader(self, fitted: bool, reset_pin: PinSpec | None) -> EmulatedPN5180 | None:
        if not fitted:
            return None
        chip = EmulatedPN5180()
        if reset_pin is not None:
            self.pins.sim_pin(reset_pin).watch(chip.drive_reset)
        return chip

    def _need(self, chip: EmulatedPN5180 | None, what: str) -> EmulatedPN5180:
        if chip is None:
            raise ValueError(f"this kiosk has no {what} (see [devices.rfid_pad] / [devices.chute_rfid])")
        return chip

    def place(self, *tags: Iso15693Tag) -> None:
        """Lay books on the lending pad, all at once: one stack."""
        self._need(self.pad, "RFID pad").pad.place(*tags)

    def lift(self, *tags: Iso15693Tag) -> None:
        """Take these books off the pad; with none named, every book on it."""
        pad = self._need(self.pad, "RFID pad").pad
        pad.lift(*(tags or pad.tags))

    def drop_tag(self, tag: Iso15693Tag, timeout_s: float = TAG_READ_TIMEOUT_S) -> None:
        """A tagged book falls into the chute: it lies in the chute reader's field until
        an inventory begun after it arrived has ended (the reader posts a new tag at the
        end of the inventory that read it, so the kiosk knows which book it is before
        the beams say it is in), then it passes the beams and stays in the field (the
        bin under the antenna), where its security is switched back on. A jammed chute
        takes no book (ChuteBlocked)."""
        chip = self._need(self.chute_rfid, "RFID reader in the chute")
        self.chute.refuse_if_jammed()
        start = chip.field_switched_on
        chip.pad.place(tag)
        deadline = time.monotonic() + timeout_s
        while chip.field_switched_on < start + 2:  # the second RF_ON: the first inventory is over
            if time.monotonic() > deadline:
                break  # the reader is not polling: the book goes in unidentified, as it would
            time.sleep(0.01)
        self.chute.drop()

    def tag_secured(self, tag: Iso15693Tag) -> bool:
        """Would an exit gate alarm? By the library's convention: the AFI is the
        in-stock one, or the EAS bit is set ("afi+eas": either)."""
        convention = self.rfid.convention
        return ("afi" in convention and tag.afi == self.rfid.afi_in_stock) or (
            "eas" in convention and tag.eas
        )

    # -- the self-test's hand ----------------------------------------------------------

    def _present_test_card(self) -> None:
        """A technician lays a test card on the reader, unless a card already lies there
        (at the technician screen it is their own staff card): the self-test reads that
        one. Adding a second card would only make the reader see several cards, and
        taking every card away afterwards would take the technician's card too."""
        if self.chip.field.cards:
            return
        self._test_card = self.chip.field.present(library_card(TEST_CARD_NUMBER))

    def _remove_test_card(self) -> None:
        """Take back the test card laid by `_present_test_card`, and nothing else."""
        card, self._test_card = self._test_card, None
        if card is not None:
            self.chip.field.remove(card)

    def _present_test_tag(self) -> None:
        """A technician lays a test tag on the pad, unless books lie there already."""
        chip = self._need(self.pad, "RFID pad")
        if chip.pad.tags:
            return
        self._test_tag = library_tag(TEST_TAG_ITEM)
        chip.pad.place(self._test_tag)

    def _remove_test_tag(self) -> None:
        tag, self._test_tag = self._test_tag, None
        if tag is not None and self.pad is not None:
            self.pad.pad.lift(tag)

    def inject_fault(self, name: str) -> None:
        """Break the simulated hardware the way the named fault looks in the field.
        "reader-silent" is a reader off its cable or supply: a hard reset on the reset
        line does not bring it back (a hung chip, `chip.hang()`, it does)."""
        if name == "reader-silent":
            self.chip.unplug()
        elif name == "scanner-unplugged":
            self.desk.unplug()
        elif name == "chute-scanner-unplugged":
            self.chute_scanner.unplug()
        elif name == "beam-stuck":
            self.chute.stick("entry")
        elif name == "rfid-reader-silent":
            self._need(self.pad, "RFID pad").unplug()
        else:
            raise ValueError(f"unknown simulated fault {name!r}; known: {', '.join(SIM_FAULTS)}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.desk.close()
        self.chute_scanner.close()
        if isinstance(self.security_unit, SimulatedEmSerialUnit):
            self.security_unit.close()
