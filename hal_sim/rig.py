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
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.diagnostics import SelfTestAids
from drivers.scanner import Suffix
from drivers.transports import DeviceTransports
from hal_sim.cards import VirtualCard, library_card
from hal_sim.chute_sim import SimulatedChute
from hal_sim.em_unit import SimulatedEmGpioUnit, SimulatedEmSerialUnit
from hal_sim.gpio import PinSpec, SimPinFactory
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.outputs_sim import SimulatedOutputs
from hal_sim.pn5180_chip import EmulatedPN5180
from hal_sim.scanner_pty import SimulatedScanner

TEST_CARD_NUMBER = "TESTCARD"


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

SIM_FAULTS = ("reader-silent", "scanner-unplugged", "chute-scanner-unplugged", "beam-stuck")


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
            ),
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
