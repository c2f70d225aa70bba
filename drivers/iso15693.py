"""ISO 15693 (HF RFID book tags) on a PN5180: inventory of a stack with anticollision,
addressed block reads and writes, AFI, and NXP ICODE SLIX EAS.

Why it is built this way: a stack of books puts 20 tags in the field at once, so the
inventory splits the UID mask on every collided slot (16 slots per round, next slot
= an EOF only), quiets each tag once read (Stay Quiet), retries a slot whose answer
was damaged, and reports a tag that stays damaged instead of dropping it. The field
goes off for at least `FIELD_OFF_S` between inventories so quiet tags wake up again;
the clock and sleep are injected so tests never wait. Every command after the
inventory is addressed: an unaddressed write would reach every tag on the pad.

Stay Quiet is sent only when another 16-slot round follows: after the last round
nobody is left to keep out of the slots, and the next inventory's field-off gap wakes
every tag anyway. So a caller may rely on nothing being quiet after `inventory()`
beyond what the next inventory's gap undoes.

`inventory(read=(first, count))` reads each tag's blocks within its slot with NXP's
custom INVENTORY READ (0xA0, IC manufacturer 0x04, option flag set so the answer
carries the UID bits the mask and slot do not give), which saves an addressed READ
MULTIPLE BLOCKS per tag. Tags that do not know it stay silent (ISO 15693-3: a custom
command in a non-addressed request) or answer an error: a plain inventory follows
(the tags already read quieted first), and those tags get READ MULTIPLE BLOCKS.

UIDs are bytes in the order they are printed (0xE0 first); on air they go LSB first.
CRC: by default the PN5180 appends the ISO 15693 CRC-16 on transmit and checks and
strips it on receive (CRC_TX_CONFIG/CRC_RX_CONFIG bit 0, set by LOAD_RF_CONFIG);
with `software_crc=True` the driver clears both bits and does it itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drivers.pn5180_host import (
    CRC_ENABLE,
    CRC_RX_CONFIG,
    CRC_TX_CONFIG,
    RF_CONFIG_ISO15693,
    TX_CONFIG,
    TX_FRAME_BITS,
    PN5180Error,
    PN5180Host,
)

FIELD_OFF_S = 0.005  # tags forget Quiet after the field has been off this long
NXP = 0x04  # IC manufacturer code of NXP (ISO/IEC 7816-6)

# Request flags.
FLAG_HIGH_RATE, FLAG_INVENTORY, FLAG_ADDRESSED, FLAG_ONE_SLOT = 0x02, 0x04, 0x20, 0x20
FLAG_OPTION = 0x40  # with INVENTORY READ: the answer carries the UID's unknown bits
# Commands.
INVENTORY, STAY_QUIET, INVENTORY_READ = 0x01, 0x02, 0xA0
READ_SINGLE, WRITE_SINGLE, READ_MULTIPLE, WRITE_MULTIPLE, WRITE_AFI = 0x20, 0x21, 0x23, 0x24, 0x27
GET_SYSTEM_INFO = 0x2B
SET_EAS, RESET_EAS, EAS_ALARM = 0xA2, 0xA3, 0xA5
ERROR_NOT_SUPPORTED = 0x01

_ERRORS = {
    0x01: "command not supported", 0x02: "command not recognised", 0x03: "option not supported",
    0x0F: "unknown error", 0x10: "block not available", 0x11: "block already locked",
    0x12: "block locked, cannot be changed", 0x13: "block not programmed",
    0x14: "block not locked",
}


def crc16(data: bytes) -> int:
    """ISO/IEC 15693-3 CRC-16 (poly 0x1021 reflected, preset 0xFFFF, ones' complement);
    sent low byte first. Check value over b"123456789" is 0x906E."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class TagError(PN5180Error):
    """A tag answered with its error flag (`tag_code` is the ISO 15693 error code)."""

    code = "tag-error"

    def __init__(self, message: str, *, uid: bytes, tag_code: int | None = None) -> None:
        super().__init__(message)
        self.uid = uid
        self.tag_code = tag_code


class TagSilent(TagError):
    """An addressed tag did not answer (gone from the pad), or its answer was damaged."""

    code = "tag-silent"


@dataclass(frozen=True)
class Tag:
    """A tag seen by an inventory; `data` the blocks asked for with `inventory(read=...)`
    (None when not read: not asked, or the tag refused or stayed silent)."""

    uid: bytes
    dsfid: int
    data: bytes | None = None

    @property
    def hex(self) -> str:
        return self.uid.hex().upper()


@dataclass
class Inventory:
    """One inventory: tags read (each once), masks where a tag answered but stayed
    unreadable after the retries, and how many collided slots were split. With
    `inventory(read=...)` and its plain sweep, `unreadable` is the sweep's: a slot the
    long INVENTORY READ answers could not get through is asked again with short ones."""

    tags: list[Tag] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    collisions: int = 0

    @property
    def uids(self) -> list[bytes]:
        return [tag.uid for tag in self.tags]


@dataclass(frozen=True)
class _Answer:
    data: bytes | None  # None: nobody answered
    collision: bool = False
    damaged: bool = False

    @property
    def clean(self) -> bool:
        return self.data is not None and not self.collision and not self.damaged


class ISO15693Reader:
    """ISO 15693 over one `PN5180Host`. Not thread-safe: one owner at a time."""

    def __init__(
        self,
        host: PN5180Host,
        *,
        retries: int = 2,
        max_rounds: int = 256,
        software_crc: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.retries = retries
        self.max_rounds = max_rounds
        self.software_crc = software_crc
        self._clock = clock
        self._sleep = sleep
        self._field_on = False
        self._field_off_at: float | None = None

    def init(self) -> None:
        """Load the ISO 15693 RF configuration (and hand the CRC to the driver if asked)."""
        self.host.load_rf_config(*RF_CONFIG_ISO15693)
        if self.software_crc:
            self.host.and_mask(CRC_TX_CONFIG, ~CRC_ENABLE)
            self.host.and_mask(CRC_RX_CONFIG, ~CRC_ENABLE)

    # -- field --

    def field_off(self) -> None:
        if self._field_on:
            self.host.rf_off()
            self._field_on = False
            self._field_off_at = self._clock()

    def _ensure_field(self) -> None:
        if self._field_on:
            return
        if self._field_off_at is not None:
            rest = FIELD_OFF_S - (self._clock() - self._field_off_at)
            if rest > 0:
                self._sleep(rest)
        self.host.rf_on()
        self._field_on = True
        self.host.start_transceive()

    # -- one exchange --

    def _exchange(self, frame: bytes | None) -> _Answer:
        """Send `frame` (None: an EOF only, the next inventory slot) and read the answer."""
        host = self.host
        host.clear_irqs()
        if frame is None:
            host.and_mask(TX_CONFIG, ~TX_FRAME_BITS)
            host.send_data(b"")
        else:
            host.or_mask(TX_CONFIG, TX_FRAME_BITS)
            if self.software_crc:
                frame += crc16(frame).to_bytes(2, "little")
            host.send_data(frame)
        if not host.wait_rx():
            return _Answer(None)
        status = host.rx_status()
        data = host.read_data(status.length)
        damaged = status.integrity_error or status.protocol_error
        if self.software_crc:
            if len(data) < 3 or crc16(data[:-2]) != int.from_bytes(data[-2:], "little"):
                damaged = True
            data = data[:-2]
        return _Answer(data, collision=status.collision, damaged=damaged)

    # -- inventory --

    def inventory(self, *, read: tuple[int, int] | None = None, sweep: bool = True) -> Inventory:
        """Every tag on the pad, each once. Field off (>= FIELD_OFF_S) then on first, so
        tags quieted by the last inventory answer again.

        With `read=(first, count)` each tag's `data` holds those blocks: read in its slot
        by INVENTORY READ, or by READ MULTIPLE BLOCKS for a tag found by the plain
        inventory that follows (`sweep`, the tags already read quieted first). That plain
        pass is what finds tags silent to INVENTORY READ (not NXP); `sweep=False` skips
        it, for a pad known to hold NXP tags only (a tag that answers the command with an
        error still brings it on). A tag whose blocks stay unreadable keeps `data=None`;
        a tag read by INVENTORY READ has `dsfid` 0 (its answer carries none)."""
        self.field_off()
        self._ensure_field()
        result = Inventory()
        seen: set[bytes] = set()
        if read is None:
            self._collect(result, seen, None)
            return result
        first, count = read
        if not 1 <= count <= 256 or not 0 <= first <= 255:
            raise ValueError(f"blocks {first}..+{count} are outside what ISO 15693 addresses")
        last, refused, rounds = self._collect(result, seen, read)
        if rounds and (sweep or refused):  # the plain probe alone hears every tag: no sweep
            for uid in last:
                self._stay_quiet(uid)
            # A slot INVENTORY READ could not read is asked again by the plain pass, whose
            # short answers are the better judge: it finds that tag or lists it itself.
            result.unreadable.clear()
            self._collect(result, seen, None)
        for i, tag in enumerate(result.tags):
            if tag.data is None:
                with contextlib.suppress(TagError):  # refused or silent: data stays None
                    result.tags[i] = Tag(tag.uid, tag.dsfid, self.read_blocks(tag.uid, first, count))
        return result

    def _collect(
        self, result: Inventory, seen: set[bytes], read: tuple[int, int] | None
    ) -> tuple[list[bytes], bool, int]:
        """A one-slot plain INVENTORY probe (short answers, heard from every tag), then
        16-slot rounds (INVENTORY READ if `read`) split on collisions, into `result`.
        Tags read in a round are quieted after it only if another round follows. Gives
        the last round's tags (not quieted), whether a tag refused INVENTORY READ in its
        slot, and how many rounds ran."""
        probe = self._exchange(self._inventory_frame(0, 0, one_slot=True))
        if probe.data is None:
            return [], False, 0
        if probe.clean and self._record(probe.data, result, seen, 0, 0, None):
            return [result.tags[-1].uid], False, 0  # one tag alone: no 16-slot round needed
        result.collisions += probe.collision
        refused = False
        read_now: list[bytes] = []
        pending: list[tuple[int, int, int]] = [(0, 0, 0)]  # mask, mask bits, retries used
        rounds = 0
        while pending:
            rounds += 1
            if rounds > self.max_rounds:
                raise PN5180Error(
                    f"inventory did not settle in {self.max_rounds} rounds: "
                    "the chip's answers make no sense (check SPI and BUSY wiring)",
                    device=self.host.device,
                )
            mask, bits, tries = pending.pop()
            read_now = []
            for slot in range(16):
                frame = self._inventory_frame(mask, bits, one_slot=False, read=read) if slot == 0 else None
                answer = self._exchange(frame)
                if answer.data is None:
                    continue
                sub = (mask | (slot << bits), bits + 4)
                if answer.collision and bits + 4 < 64:
                    result.collisions += 1
                    pending.append((*sub, 0))
                elif answer.clean and read is not None and answer.data[0] & 0x01:
                    refused = True  # a tag refusing INVENTORY READ: the plain pass finds it
                elif answer.clean and self._record(answer.data, result, seen, *sub, read):
                    read_now.append(result.tags[-1].uid)
                elif tries < self.retries:
                    pending.append((*sub, tries + 1))
                else:
                    result.unreadable.append(f"UID bits {sub[1]}: mask 0x{sub[0]:X}")
            if pending:  # only after the round: any other request ends the slots
                for uid in read_now:
                    self._stay_quiet(uid)
        return read_now, refused, rounds

    def _stay_quiet(self, uid: bytes) -> None:
        self._exchange(bytes([FLAG_HIGH_RATE | FLAG_ADDRESSED, STAY_QUIET]) + uid[::-1])

    @staticmethod
    def _inventory_frame(mask: int, bits: int, *, one_slot: bool, read: tuple[int, int] | None = None) -> bytes:
        flags = FLAG_HIGH_RATE | FLAG_INVENTORY | (FLAG_ONE_SLOT if one_slot else 0)
        mask_bytes = mask.to_bytes((bits + 7) // 8, "little")
        if read is None:
            return bytes([flags, INVENTORY, bits]) + mask_bytes
        first, count = read
        head = bytes([flags | FLAG_OPTION, INVENTORY_READ, NXP, bits]) + mask_bytes
        return head + bytes([first, count - 1])

    @staticmethod
    def _record(
        data: bytes, result: Inventory, seen: set[bytes], mask: int, bits: int, read: tuple[int, int] | None
    ) -> bool:
        """A slot's clean answer into `result`; False if it is no answer to the request
        (wrong length, error flag): the caller retries the slot. `mask`/`bits` are what
        the slot itself says of the UID's low bits (INVENTORY READ sends only the rest)."""
        if data[:1] != b"\x00":
            return False
        if read is None:
            if len(data) != 10:
                return False
            uid, dsfid, blocks = data[2:10][::-1], data[1], None
        else:
            known = bits if bits else 0
            sent = 8 - known // 8  # the UID bytes above those the mask and slot fix
            if len(data) != 1 + sent + 4 * read[1]:
                return False
            low = (mask & ((1 << (8 * (8 - sent))) - 1)).to_bytes(8 - sent, "little")
            uid = (low + data[1 : 1 + sent])[::-1]
            dsfid, blocks = 0, data[1 + sent :]
        if uid not in seen:
            seen.add(uid)
            result.tags.append(Tag(uid=uid, dsfid=dsfid, data=blocks))
        return True

    # -- addressed commands --

    def _command(self, uid: bytes, command: int, params: bytes = b"", *, nxp: bool = False) -> bytes:
        """One addressed request; the answer's data after its flags byte."""
        if len(uid) != 8:
            raise ValueError(f"an ISO 15693 UID is 8 bytes, not {len(uid)}")
        self._ensure_field()
        head = bytes([FLAG_HIGH_RATE | FLAG_ADDRESSED, command]) + (bytes([NXP]) if nxp else b"")
        last: _Answer | None = None
        for _ in range(self.retries + 1):
            last = self._exchange(head + uid[::-1] + params)
            if last.clean:
                break
        assert last is not None
        name = f"tag {uid.hex().upper()}"
        if last.data is None:
            raise TagSilent(f"{name} did not answer command 0x{command:02X}", uid=uid)
        if not last.clean:
            raise TagSilent(f"{name}'s answer to 0x{command:02X} stayed damaged", uid=uid)
        if last.data[0] & 0x01:
            code = last.data[1] if len(last.data) > 1 else None
            reason = _ERRORS.get(code or 0x0F, f"error 0x{code:02X}")
            raise TagError(f"{name} refused 0x{command:02X}: {reason}", uid=uid, tag_code=code)
        return last.data[1:]

    def read_block(self, uid: bytes, block: int) -> bytes:
        return self._command(uid, READ_SINGLE, bytes([block]))

    def read_blocks(self, uid: bytes, first: int, count: int) -> bytes:
        """`count` blocks from `first`, concatenated (READ MULTIPLE BLOCKS)."""
        return self._command(uid, READ_MULTIPLE, bytes([first, count - 1]))

    def write_block(self, uid: bytes, block: int, data: bytes) -> None:
        self._command(uid, WRITE_SINGLE, bytes([block]) + data)

    def write_blocks(self, uid: bytes, first: int, blocks: Sequence[bytes]) -> None:
        """WRITE MULTIPLE BLOCKS; a tag without it (ICODE SLIX has none) gets one
        WRITE SINGLE BLOCK per block."""
        try:
            self._command(uid, WRITE_MULTIPLE, bytes([first, len(blocks) - 1]) + b"".join(blocks))
        except TagError as exc:
            if exc.tag_code != ERROR_NOT_SUPPORTED:
                raise
            for i, data in enumerate(blocks):
                self.write_block(uid, first + i, data)

    def write_afi(self, uid: bytes, afi: int) -> None:
        self._command(uid, WRITE_AFI, bytes([afi]))

    def set_eas(self, uid: bytes) -> None:
        self._command(uid, SET_EAS, nxp=True)

    def reset_eas(self, uid: bytes) -> None:
        self._command(uid, RESET_EAS, nxp=True)

    def eas_alarm(self, uid: bytes) -> bool:
        """True if the tag's EAS is set: it answers EAS ALARM only then."""
        try:
            self._command(uid, EAS_ALARM, nxp=True)
        except TagSilent:
            return False
        return True

    def get_system_info(self, uid: bytes) -> SystemInfo:
        """GET SYSTEM INFORMATION (0x2B), addressed: the AFI as the tag holds it now (so
        a write can be read back) and its memory layout. Fields follow the info-flags
        byte in ISO/IEC 15693-3's order: UID, DSFID, AFI, memory size, IC reference."""
        data = self._command(uid, GET_SYSTEM_INFO)
        if len(data) < 9:
            raise TagError(f"tag {uid.hex().upper()}'s system information is {len(data)} bytes", uid=uid)
        info, rest = data[0], data[9:]
        dsfid = afi = count = size = None
        if info & 0x01 and rest:
            dsfid, rest = rest[0], rest[1:]
        if info & 0x02 and rest:
            afi, rest = rest[0], rest[1:]
        if info & 0x04 and len(rest) >= 2:
            count, size = rest[0] + 1, (rest[1] & 0x1F) + 1
        return SystemInfo(dsfid=dsfid, afi=afi, block_count=count, block_size=size)


@dataclass(frozen=True)
class SystemInfo:
    """GET SYSTEM INFORMATION's answer: what the tag says of itself (None: not sent)."""

    dsfid: int | None
    afi: int | None
    block_count: int | None
    block_size: int | None

