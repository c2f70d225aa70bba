"""ISO 14443A: REQA/WUPA, anticollision and SELECT over cascade levels 1 and 2 (4- and
7-byte UIDs, BCC and CRC_A checked), counting the cards in the field, and HLTA. A
collision is resolved (one card selected) or reported as CollisionError.

`Iso14443aProtocol` is the protocol over any chip's two exchanges, so the MFRC522
(`Iso14443aPcd`, its registers and Transceive in drivers.mfrc522_pcd) and the PN5180
(drivers.pn5180_cards) walk the same anticollision code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.card_chip import Frame, SelectedCard
from drivers.card_errors import CollisionError, NoCard, ProtocolError, Timeout
from drivers.mfrc522_pcd import MFRC522Pcd

# PICC commands.
PICC_REQA, PICC_WUPA, PICC_HLTA = 0x26, 0x52, 0x50
SEL_CODES = (0x93, 0x95)  # cascade levels 1 and 2
CASCADE_TAG = 0x88


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


class Iso14443aProtocol:
    """ISO 14443A-3 over any reader chip (see the module doc); the chip class supplies
    `device`, `poll_timeout_s` and two exchanges: `transceive_frame` (raw bits, no CRC,
    collisions returned) and `_transceive_crc` (CRC_A appended, checked and stripped;
    raises Timeout on silence, CollisionError, CRCError). The MFRC522 computes CRC_A with
    its coprocessor, the PN5180 in its transceiver (drivers.pn5180_cards)."""

    device: str
    poll_timeout_s: float

    if TYPE_CHECKING:

        def transceive_frame(
            self, data: bytes, *, tx_last_bits: int = 0, rx_align: int = 0, timeout_s: float | None = None
        ) -> Frame: ...

        def _transceive_crc(self, body: bytes, *, timeout_s: float | None = None) -> bytes: ...

    def request_a(self) -> bytes:
        """REQA: wakes IDLE cards (not halted ones); returns the ATQA."""
        return self._short_frame(PICC_REQA)

    def wakeup_a(self) -> bytes:
        """WUPA: wakes IDLE and HALTED cards; returns the ATQA. Raises NoCard."""
        return self._short_frame(PICC_WUPA)

    def _short_frame(self, command: int) -> bytes:
        try:
            frame = self.transceive_frame(bytes([command]), tx_last_bits=7, timeout_s=self.poll_timeout_s)
        except Timeout as exc:
            raise NoCard("no card in the field", device=self.device) from exc
        # Different card types give different ATQAs; a collision still means "a card".
        if len(frame.data) != 2 or frame.last_bits != 8:
            if frame.collision_bit is not None:
                return frame.data
            raise ProtocolError(f"ATQA of {len(frame.data)} bytes", device=self.device)
        return frame.data

    def _anticollision_step(self, level: int, known: bytearray, known_bits: int) -> tuple[int, int | None]:
        """One ANTICOLLISION frame at `level` with `known_bits` of the 40 CLn bits.
        Merges the answer into `known`; returns (bits now known, UID bit of collision)."""
        whole, extra = divmod(known_bits, 8)
        nvb = ((2 + whole) << 4) | extra
        sent = bytes([SEL_CODES[level], nvb]) + bytes(known[: whole + (1 if extra else 0)])
        frame = self.transceive_frame(
            sent, tx_last_bits=extra, rx_align=extra, timeout_s=self.poll_timeout_s
        )
        answer = frame.data
        valid_until = 40 if frame.collision_bit is None else whole * 8 + frame.collision_bit
        for i, byte in enumerate(answer):
            index = whole + i
            if index >= 5:
                break
            mask = 0xFF
            if i == 0:
                mask &= (0xFF << extra) & 0xFF  # bits below RxAlign are ours, not the card's
            limit = valid_until - index * 8
            if limit < 8:
                mask &= (1 << max(limit, 0)) - 1
            known[index] = (known[index] & ~mask & 0xFF) | (byte & mask)
        if frame.collision_bit is None:
            return 40, None
        if valid_until < known_bits:
            raise ProtocolError("collision reported inside the known bits", device=self.device)
        return valid_until, valid_until

    def select(self, *, resolve_collisions: bool = False) -> SelectedCard:
        """Anticollision and SELECT over cascade levels 1 and 2 after REQA/WUPA.

        With `resolve_collisions` the branch with a 1 bit is followed at every
        collision (one card gets selected, the others stay READY); without it a
        collision raises CollisionError: one card at a time.
        """
        uid = b""
        for level in range(len(SEL_CODES)):
            known = bytearray(5)
            known_bits = 0
            for _ in range(41):
                known_bits, collision = self._anticollision_step(level, known, known_bits)
                if collision is None:
                    break
                if not resolve_collisions:
                    raise CollisionError("several cards in the field", bit=collision, device=self.device)
                known[collision // 8] |= 1 << (collision % 8)
                known_bits = collision + 1
            else:
                raise ProtocolError("anticollision did not converge", device=self.device)
            if _xor(known[:4]) != known[4]:
                raise ProtocolError("UID check byte (BCC) mismatch", device=self.device)
            sak = self._select_level(level, bytes(known))
            if sak & 0x04:
                if known[0] != CASCADE_TAG:
                    raise ProtocolError("SAK says cascade but no cascade tag", device=self.device)
                uid += bytes(known[1:4])
                continue
            return SelectedCard(uid + bytes(known[:4]), sak)
        raise ProtocolError("UIDs longer than 7 bytes are not supported", device=self.device)

    def _select_level(self, level: int, cln: bytes) -> int:
        answer = self._transceive_crc(bytes([SEL_CODES[level], 0x70]) + cln, timeout_s=self.poll_timeout_s)
        if len(answer) != 1:
            raise ProtocolError(f"SAK of {len(answer)} bytes", device=self.device)
        return answer[0]

    def count_cards(self, *, limit: int = 8) -> int:
        """How many cards answer anticollision at level 1 (after REQA/WUPA), walking the
        collision tree with ANTICOLLISION frames only, so every card stays READY.
        Counts distinct level-1 UID parts, up to `limit`."""
        count = 0
        pending: list[tuple[bytearray, int]] = [(bytearray(5), 0)]
        while pending and count < limit:
            known, known_bits = pending.pop()
            try:
                known_bits, collision = self._anticollision_step(0, known, known_bits)
            except Timeout:
                continue
            if collision is None:
                count += 1
                continue
            for bit in (0, 1):
                branch = bytearray(known)
                if bit:
                    branch[collision // 8] |= 1 << (collision % 8)
                else:
                    branch[collision // 8] &= ~(1 << (collision % 8)) & 0xFF
                pending.append((branch, collision + 1))
        return count

    def halt(self) -> None:
        """HLTA: the ACTIVE card goes to HALT (silence is the success answer)."""
        try:
            answer = self._transceive_crc(bytes([PICC_HLTA, 0x00]), timeout_s=self.poll_timeout_s)
        except Timeout:
            return
        raise ProtocolError(f"card answered HLTA with {answer.hex()}", device=self.device)


class Iso14443aPcd(MFRC522Pcd, Iso14443aProtocol):
    """The MFRC522 speaking ISO 14443A to the cards in its field (see the module doc)."""

    def _transceive_crc(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        frame = self.transceive(body + self.calculate_crc(body), timeout_s=timeout_s)
        return self._check_crc(frame.data)
