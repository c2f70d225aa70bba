"""The air side of the emulated MFRC522: the cards within reach of its antenna, and
what the chip hears when they answer (ISO 14443A, against `hal_sim.cards.VirtualCard`s,
with bit-level collisions when several answer at once). The chip's register file and
commands are hal_sim.mfrc522_chip; the field shares the chip's lock."""

from __future__ import annotations

import threading

from hal_sim.cards import Reply, VirtualCard


class RfField:
    """The cards within reach of the antenna. `present`/`remove` are the world's verbs:
    a card laid on the reader, a card taken away."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._cards: list[VirtualCard] = []
        self.energised = False

    @property
    def cards(self) -> tuple[VirtualCard, ...]:
        with self._lock:
            return tuple(self._cards)

    def present(self, card: VirtualCard) -> VirtualCard:
        with self._lock:
            if card not in self._cards:
                card.power_up()
                self._cards.append(card)
        return card

    def remove(self, card: VirtualCard) -> None:
        with self._lock:
            if card in self._cards:
                self._cards.remove(card)
                card.power_up()  # it will start over when it comes back

    def clear(self) -> None:
        with self._lock:
            for card in list(self._cards):
                self.remove(card)

    def set_energised(self, on: bool) -> None:
        """Field switched on or off: either way every card starts over from IDLE."""
        with self._lock:
            if on != self.energised:
                for card in self._cards:
                    card.power_up()
            self.energised = on

    def exchange(self, bits: list[int], *, crypto_on: bool) -> list[Reply]:
        with self._lock:
            if not self.energised:
                return []
            replies = [card.receive(bits, crypto_on=crypto_on) for card in self._cards]
            return [reply for reply in replies if reply is not None]

    def authenticate(self, command: int, block: int, key: bytes, uid4: bytes) -> bool:
        with self._lock:
            if not self.energised:
                return False
            return any(card.authenticate(command, block, key, uid4) for card in self._cards)


def superpose(replies: list[Reply]) -> tuple[list[int], int | None]:
    """What the reader hears when several cards answer at once: bits where they agree,
    and the index of the first bit where they disagree (a Manchester collision)."""
    length = max(len(r.bits) for r in replies)
    heard: list[int] = []
    first_collision: int | None = None
    for i in range(length):
        values = {r.bits[i] for r in replies if i < len(r.bits)}
        if len(values) > 1 and first_collision is None:
            first_collision = i
        heard.append(max(values))
    return heard, first_collision
