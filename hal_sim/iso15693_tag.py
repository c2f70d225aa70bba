"""The air side of the emulated PN5180: ISO 15693 book tags (NXP ICODE SLIX-like) and
the pad they lie on. Tags arrive and leave (`Pad.place`, `Pad.lift`); what the reader
hears in a slot is every answering tag superposed (hal_sim.pn5180_chip flags it).

A tag keeps its state as the standard says: power-off without field, Ready, Quiet
(Stay Quiet; only addressed requests reach it), and a 16-slot inventory in progress
that advances on each EOF and ends at any other request. It holds its Quiet state
across a field gap shorter than `QUIET_HOLD_S`, as a real tag's capacitor does, so a
reader that doesn't keep the field off long enough misses tags.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

QUIET_HOLD_S = 0.005
BLOCK_SIZE, BLOCK_COUNT = 4, 28
NXP = 0x04


def crc16(data: bytes) -> int:
    """ISO/IEC 15693-3 CRC-16, computed MSB-style on the unreflected polynomial so it
    shares no code with the driver's: reflect in, 0x1021, reflect out, complement."""
    crc = 0xFFFF
    for byte in data:
        byte = int(f"{byte:08b}"[::-1], 2)
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return int(f"{crc:016b}"[::-1], 2) ^ 0xFFFF


def _with_crc(data: bytes) -> bytes:
    return data + crc16(data).to_bytes(2, "little")


def _error(code: int) -> bytes:
    return _with_crc(bytes([0x01, code]))


@dataclass(eq=False)
class Iso15693Tag:
    """One tag. `uid` as printed (0xE0 first). Fault flags: `unreadable` (every answer
    arrives with a broken CRC), `write_fails` (writes answer error 0x13, memory kept),
    `supports_write_multiple` (ICODE SLIX has none: it answers 'not supported'),
    `supports_inventory_read` (False: a non-NXP tag, silent to INVENTORY READ as ISO
    15693-3 has a tag be to an unknown custom command in a non-addressed request),
    `refuses_aloud` (with `supports_inventory_read=False`: answers it 'not supported'
    in its slot instead, as some readers' tags do)."""

    uid: bytes
    blocks: list[bytes] = field(default_factory=lambda: [bytes(BLOCK_SIZE)] * BLOCK_COUNT)
    afi: int = 0x00
    dsfid: int = 0x00
    eas: bool = True
    unreadable: bool = False
    write_fails: bool = False
    supports_write_multiple: bool = True
    supports_inventory_read: bool = True
    refuses_aloud: bool = False
    quiet: bool = False
    powered: bool = False
    _slot: int | None = None  # my slot in the running 16-slot inventory
    _slot_now: int = 0
    _slot_reply: bytes = b""  # what I answer in my slot (INVENTORY or INVENTORY READ)

    def __post_init__(self) -> None:
        if len(self.uid) != 8 or self.uid[0] != 0xE0:
            raise ValueError("an ISO 15693 UID is 8 bytes starting 0xE0")

    @property
    def uid_int(self) -> int:
        return int.from_bytes(self.uid, "big")

    def power(self, on: bool, *, gap_s: float = 1.0) -> None:
        if on and not self.powered and gap_s >= QUIET_HOLD_S - 1e-9:  # float noise is not physics
            self.quiet = False
        self.powered = on
        self._slot = None

    def _answer(self, data: bytes) -> bytes:
        frame = _with_crc(data)
        if self.unreadable:
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        return frame

    def eof(self) -> bytes | None:
        """The next inventory slot begins."""
        if not self.powered or self._slot is None:
            return None
        self._slot_now += 1
        if self._slot_now == self._slot:
            return self._answer(self._slot_reply)
        return None

    def receive(self, frame: bytes) -> bytes | None:
        """A request with its CRC; the answer with its CRC, or None (silence)."""
        if not self.powered:
            return None
        self._slot = None
        if len(frame) < 4 or crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            return None
        body = frame[:-2]
        flags, command = body[0], body[1]
        if flags & 0x04:
            return self._inventory(flags, command, body[2:])
        rest = body[2:]
        if command >= 0xA0:
            if not rest or rest[0] != NXP:
                return None
            rest = rest[1:]
        if flags & 0x20:
            if rest[:8] != self.uid[::-1]:
                return None
            rest = rest[8:]
        elif self.quiet:
            return None
        return self._command(command, rest)

    def _inventory(self, flags: int, command: int, params: bytes) -> bytes | None:
        """INVENTORY (0x01) or NXP's INVENTORY READ (0xA0, 0x04): same AFI, mask and
        slots; INVENTORY READ answers flags + (option flag) the UID bytes the mask and
        slot number leave unknown, LSB first + the blocks asked for."""
        if self.quiet:
            return None
        refusal = False
        if command == 0xA0:
            if not params or params[0] != NXP:
                return None
            if not self.supports_inventory_read:
                if not self.refuses_aloud:
                    return None
                refusal = True
            params = params[1:]
        elif command != 0x01:
            return None
        if flags & 0x10:
            afi, params = params[0], params[1:]
            if afi and afi != self.afi:
                return None
        bits = params[0]
        mask = int.from_bytes(params[1 : 1 + (bits + 7) // 8], "little") & ((1 << bits) - 1)
        if self.uid_int & ((1 << bits) - 1) != mask:
            return None
        one_slot = bool(flags & 0x20)
        if command == 0x01:
            reply = bytes([0x00, self.dsfid]) + self.uid[::-1]
        elif refusal:
            reply = bytes([0x01, 0x01])
        else:
            rest = params[1 + (bits + 7) // 8 :]
            if len(rest) < 2:
                return None
            first, count = rest[0], rest[1] + 1
            if first + count > len(self.blocks):
                return None  # an error leaves an ICODE tag silent in inventory
            else:
                known = bits + (0 if one_slot else 4)
                sent = self.uid[::-1][known // 8 :] if flags & 0x40 else b""
                reply = b"\x00" + sent + b"".join(self.blocks[first : first + count])
        if one_slot:
            return self._answer(reply)
        self._slot_reply = reply
        self._slot, self._slot_now = (self.uid_int >> bits) & 0xF, 0
        return self._answer(reply) if self._slot == 0 else None

    def _command(self, command: int, p: bytes) -> bytes | None:
        if command == 0x02:  # Stay Quiet: never answers
            self.quiet = True
            return None
        if command == 0x20:
            return self._read(p[0], 1)
        if command == 0x23:
            return self._read(p[0], p[1] + 1)
        if command == 0x21:
            return self._write(p[0], [p[1 : 1 + BLOCK_SIZE]])
        if command == 0x24:
            if not self.supports_write_multiple:
                return self._answer(bytes([0x01, 0x01]))
            count, data = p[1] + 1, p[2:]
            return self._write(p[0], [data[i * 4 : i * 4 + 4] for i in range(count)])
        if command == 0x27:
            if self.write_fails:
                return self._answer(bytes([0x01, 0x13]))
            self.afi = p[0]
            return self._answer(b"\x00")
        if command == 0x2B:  # GET SYSTEM INFO: UID, DSFID, AFI, memory size
            size = bytes([len(self.blocks) - 1, BLOCK_SIZE - 1])
            return self._answer(bytes([0x00, 0x07]) + self.uid[::-1] + bytes([self.dsfid, self.afi]) + size)
        if command in (0xA2, 0xA3):
            if self.write_fails:
                return self._answer(bytes([0x01, 0x13]))
            self.eas = command == 0xA2
            return self._answer(b"\x00")
        if command == 0xA5:
            return self._answer(b"\x00" + bytes(range(32))) if self.eas else None
        return self._answer(bytes([0x01, 0x01]))

    def _read(self, first: int, count: int) -> bytes:
        if first + count > len(self.blocks):
            return self._answer(bytes([0x01, 0x10]))
        return self._answer(b"\x00" + b"".join(self.blocks[first : first + count]))

    def _write(self, first: int, data: list[bytes]) -> bytes:
        if first + len(data) > len(self.blocks) or any(len(d) != BLOCK_SIZE for d in data):
            return self._answer(bytes([0x01, 0x10]))
        if self.write_fails:
            return self._answer(bytes([0x01, 0x13]))
        for i, block in enumerate(data):
            self.blocks[first + i] = bytes(block)
        return self._answer(b"\x00")


class Pad:
    """The tags within reach of the antenna; shares the chip's lock."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._tags: list[Iso15693Tag] = []
        self.energised = False

    @property
    def tags(self) -> tuple[Iso15693Tag, ...]:
        with self._lock:
            return tuple(self._tags)

    def place(self, *tags: Iso15693Tag) -> None:
        with self._lock:
            for tag in tags:
                if tag not in self._tags:
                    tag.power(self.energised)
                    self._tags.append(tag)

    def lift(self, *tags: Iso15693Tag) -> None:
        with self._lock:
            for tag in tags:
                if tag in self._tags:
                    self._tags.remove(tag)
                    tag.power(False)

    def set_energised(self, on: bool, *, gap_s: float = 1.0) -> None:
        with self._lock:
            for tag in self._tags:
                tag.power(on, gap_s=gap_s)
            self.energised = on

    def exchange(self, frame: bytes | None) -> list[bytes]:
        """Every answer to `frame` (None: an EOF, the next slot)."""
        with self._lock:
            if not self.energised:
                return []
            replies = [t.eof() if frame is None else t.receive(frame) for t in self._tags]
            return [r for r in replies if r is not None]
