"""Self-test results and the fault codes technicians see (docs/fault-codes.md, `firmware diag`).

Every device driver offers `diagnose() -> list[DiagResult]`; the firmware's `diag`
command and the technician screen only collect and show them. `SelfTestAids` are the
hands a self-test may borrow (the simulator's, or none on a Pi).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

# Stable fault codes -> plain-language hint for the technician. Codes are a contract:
# the hub's fleet view, the technician screen and `diag --json` all show them.
FAULT_HINTS: dict[str, str] = {
    "ok": "",
    "reader-silent": "The card reader does not answer. Check the reader's SPI cable and its 3.3 V supply, then run the self-test again.",
    "reader-antenna": "The card reader answers but its antenna is off or weak. Check the antenna cable; re-seat the reader board.",
    "reader-card-read-failed": "The reader sees the test card but cannot read it. Try another test card; if it persists, replace the reader.",
    "scanner-unplugged": "The barcode scanner is not connected. Check its USB/serial cable and that it is powered.",
    "scanner-no-permission": "The kiosk may not open the barcode scanner. The kiosk's user needs the 'input' group (USB keyboard scanners) or 'dialout' (serial scanners); check the udev rules.",
    "scanner-busy": "Another program holds the barcode scanner (often the touchscreen's input settings probing every input device). List only the touchscreen in Kivy's [input] settings.",
    "scanner-no-readback": "The scanner's port opens but the test scan did not come back. Check the scanner's baud rate and line ending settings.",
    "beam-stuck": "A return-chute light beam stays blocked. Look for a book or dirt in the chute and clean the beam's lenses.",
    "beam-dead": "A return-chute light beam never changes. Check the sensor's cable and power.",
    "chute-jammed": "A book is stuck in the return chute. Open the chute, remove it, and press 'clear'.",
    "printer-offline": "The receipt printer does not answer. Check its power, cable (or network) and that its cover is closed; receipts are shown as QR codes meanwhile.",
    "printer-paper-out": "The receipt printer is out of paper. Put in a new roll; receipts are shown as QR codes meanwhile.",
    "output-fault": "An output (flap, light or buzzer) did not respond. Check its cable and driver board.",
    "security-no-answer": "The book-security (EM) unit does not answer. Check its power and serial cable, and security.port / baud.",
    "security-refused": "The book-security (EM) unit refused to switch: no strip under its head, or the unit is busy. Switch the book by hand.",
    "security-no-confirm": "The book-security (EM) unit never confirmed the pulse. Check its confirm wire and security.pulse_ms.",
    "rfid-reader-silent": "An RFID book-tag reader (the lending pad's or the return chute's) does not answer. Check its SPI cable, its BUSY and RST wires and its 3.3 V / 5 V supply, then run the self-test again.",
    "rfid-antenna": "An RFID book-tag reader answers but its field stays off (the chip reports overheating, or the antenna driver's 5 V is missing). Let it cool, check the 5 V supply and the antenna cable.",
    "tag-read-failed": "The RFID reader sees a tag but cannot read its memory. Try another test tag; a book whose tag fails this way needs a new tag.",
    "security-tag-gone": "A book's RFID tag did not answer when its security was switched: the book left the pad or chute too soon, or its tag is damaged. Switch the book's security at the staff desk.",
    "security-tag-write": "A book's RFID tag refused the security write, or reads back unchanged. Switch the book's security at the staff desk and replace the tag if it keeps failing.",
    "security-not-fitted": "The kiosk was asked to switch a book's security but no fitted unit can: check [security], [rfid] security and the tag readers in the config. Switch the book's security at the staff desk.",
    "voice-player-missing": "The audio player for spoken prompts is not installed. Install alsa-utils (aplay) or set [voice] player. Readers are served; they only hear no prompts.",
    "voice-player-failed": "The audio player for spoken prompts failed. Check the loudspeaker, the sound card and its volume (aplay -l), or [voice] player. Readers are served; they only hear no prompts.",
    "voice-synth-missing": "The speech synthesiser espeak-ng is not installed. Install espeak-ng or set [voice] synth.",
    "voice-synth-failed": "Speech synthesis failed. Check espeak-ng and its Mandarin voice cmn-latn-pinyin, and that the voice cache directory is writable.",
    "security-io": "The book-security (EM) unit's port or pins cannot be used. Check the cable and security.port.",
}


@dataclass(frozen=True)
class DiagResult:
    """One line of the self-test; the JSON shape of `firmware diag --json` devices."""

    device: str
    ok: bool
    code: str = "ok"
    hint: str = ""
    detail: str = ""

    @classmethod
    def fault(cls, device: str, code: str, detail: str = "") -> DiagResult:
        return cls(device=device, ok=False, code=code, hint=FAULT_HINTS.get(code, ""), detail=detail)

    @classmethod
    def passed(cls, device: str, detail: str = "") -> DiagResult:
        return cls(device=device, ok=True, code="ok", hint="", detail=detail)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SelfTestAids:
    """What makes a self-test more than "the port opens": a way to make each scanner
    emit a test code, each beam toggle, a test card lie on the reader and a test tag on
    the RFID pad. The simulator
    provides all of them; on a Pi a technician's hand does, or they stay None."""

    desk_readback: Callable[[str], object] | None = None
    chute_readback: Callable[[str], object] | None = None
    exercise_beams: Callable[[], object] | None = None
    present_test_card: Callable[[], object] | None = None
    remove_test_card: Callable[[], object] | None = None
    present_test_tag: Callable[[], object] | None = None  # a test book tag on the RFID pad
    remove_test_tag: Callable[[], object] | None = None
