"""The RFID security switch: a book's security carried by its own tag, switched by an
addressed write through the reader that holds it (the lending pad or the chute's).

The library's convention ([rfid] security) says what the exit gates read: "afi" (the
AFI byte: `afi_in_stock` alarms, `afi_on_loan` lets the book through), "eas" (the NXP
ICODE SLIX EAS bit: set alarms), or "afi+eas" (both, as libraries migrating between
gate types do). Each write is addressed to the one tag, never broadcast: an
unaddressed write would reach every tag on the pad. The AFI is never locked: a locked
AFI could never be switched back at the return.

A write is read back before the switch says "done" (GET SYSTEM INFORMATION for the AFI,
EAS ALARM for the EAS bit), because an acknowledgement lost on the air and a write that
did not take look alike; only the read-back tells the reader the truth. The switch
never raises: every outcome is a `SwitchResult`, with these fault codes
(docs/fault-codes.md): `security-tag-gone` (the tag did not answer: lifted, or out of
the field), `security-tag-write` (it answered but refused the write, or the read-back
differs), `rfid-reader-silent` (the reader chip itself failed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from drivers.book_security import SwitchResult
from drivers.iso15693 import ISO15693Reader, TagError, TagSilent
from drivers.pn5180_host import PN5180Error
from drivers.rfid_pad import SILENT, RfidPad

log = logging.getLogger(__name__)

TAG_GONE = "security-tag-gone"
TAG_WRITE = "security-tag-write"
Convention = Literal["afi", "eas", "afi+eas"]


class RfidTagSecurity:
    """Switches tags on whichever of `readers` holds them: the one whose last inventory
    saw the tag first, then the others (a book lifted off the pad and dropped in the
    chute is still the same tag). When none could, the first one's failure is told: the
    reader that saw the tag, or the pad's when none did."""

    def __init__(
        self,
        readers: Sequence[RfidPad],
        *,
        convention: Convention = "afi",
        afi_in_stock: int = 0x07,
        afi_on_loan: int = 0xC2,
    ) -> None:
        if not readers:
            raise ValueError("an RFID security switch needs at least one reader")
        if "afi" in convention and afi_in_stock == afi_on_loan:
            raise ValueError("afi_in_stock and afi_on_loan must differ")
        self.readers = tuple(readers)
        self.convention = convention
        self.afi_in_stock = afi_in_stock
        self.afi_on_loan = afi_on_loan

    def secure_tag(self, uid: bytes) -> SwitchResult:
        """Arm the tag `uid` (as TagRead gives it: least significant byte first)."""
        return self._switch(uid[::-1], secure=True)

    def unsecure_tag(self, uid: bytes) -> SwitchResult:
        return self._switch(uid[::-1], secure=False)

    def _switch(self, uid: bytes, *, secure: bool) -> SwitchResult:
        name = uid.hex().upper()
        ordered = sorted(self.readers, key=lambda pad: not pad.in_field(uid))
        gone: SwitchResult | None = None
        for pad in ordered:
            try:
                with pad.exclusive() as reader:
                    self._write(reader, uid, secure)
                    self._check(reader, uid, secure)
            except TagSilent as exc:
                gone = gone or SwitchResult.fault(TAG_GONE, f"tag {name} did not answer on {pad.device}: {exc}")
                continue  # perhaps on the other reader
            except TagError as exc:
                return SwitchResult.fault(TAG_WRITE, f"tag {name} on {pad.device}: {exc}")
            except PN5180Error as exc:
                gone = gone or SwitchResult.fault(SILENT, f"{pad.device}: {exc}")
                continue
            state = "on" if secure else "off"
            return SwitchResult.done(f"tag {name} security {state} ({self.convention}) on {pad.device}")
        assert gone is not None
        log.warning("security switch failed: %s", gone.detail)
        return gone

    def _write(self, reader: ISO15693Reader, uid: bytes, secure: bool) -> None:
        if "afi" in self.convention:
            reader.write_afi(uid, self.afi_in_stock if secure else self.afi_on_loan)
        if "eas" in self.convention:
            if secure:
                reader.set_eas(uid)
            else:
                reader.reset_eas(uid)

    def _check(self, reader: ISO15693Reader, uid: bytes, secure: bool) -> None:
        """Read the switch back; a difference is a write that did not take."""
        name = uid.hex().upper()
        if "afi" in self.convention:
            want = self.afi_in_stock if secure else self.afi_on_loan
            afi = reader.get_system_info(uid).afi
            if afi != want:
                shown = "nothing" if afi is None else f"0x{afi:02X}"
                raise TagError(f"tag {name}'s AFI reads back {shown}, not 0x{want:02X}", uid=uid)
        if "eas" in self.convention and reader.eas_alarm(uid) != secure:
            raise TagError(f"tag {name}'s EAS reads back {'off' if secure else 'on'}", uid=uid)
