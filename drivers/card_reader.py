"""The card reader as the kiosk sees it: a poller that turns a reader chip into events.

The chip is an MFRC522 (drivers.mfrc522) or a PN5180 (drivers.pn5180_cards), either
behind drivers.card_chip.CardChip; the poller never asks which.

Each poll wakes cards with WUPA (so a card we halted, still lying on the reader, is
seen), selects it, reads its identity blocks once per arrival, and halts it again.
What it posts (drivers.events):

* CardPresented(uid, data) once per arrival: a card staying in the field posts
  nothing more, so one tap never becomes two loans. `data` is the configured blocks
  read with the configured key, or b"" when the card's key is not ours;
* CardRemoved(uid) after the card was absent for `removal_polls` consecutive polls
  (one missed answer is not a removal);
* MultipleCards(count) when anticollision finds two or more cards: the reader is
  asked for one card at a time and no card is presented;
* DeviceFault("card_reader", "reader-silent", hint) when the chip stops answering and
  re-initialising it fails, DeviceRecovered when a later re-initialisation works.

Cheap boards stop answering after a while: the poller re-initialises the chip by
itself on the first sign (ChipNotResponding: a version of 0x00/0xFF, no interrupt,
BUSY stuck), and after `reinit_after_failures` consecutive polls that ended in other
chip-level errors. The first initialisation and every one after the chip went silent
begin with a hard reset on the chip's reset line (the MFRC522's NRSTPD, the PN5180's
RST), when it has one: a board that stopped answering SPI cannot hear a soft reset.
Re-initialising after other errors is a soft one only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass

from drivers.card_chip import CardChip, SelectedCard, sector_trailer
from drivers.card_errors import (
    AuthError,
    CardReaderError,
    ChipNotResponding,
    CollisionError,
    NoCard,
)
from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import FAULT_HINTS, DiagResult
from drivers.events import (
    CardPresented,
    CardRemoved,
    DeviceFault,
    DeviceRecovered,
    MultipleCards,
    Post,
)

log = logging.getLogger(__name__)

DEVICE = "card_reader"
_READ_ATTEMPTS = 3  # failed reads of one card before it is presented without data


@dataclass(frozen=True)
class _Absent:
    pass


@dataclass(frozen=True)
class _Card:
    uid: bytes
    data: bytes | None  # None: not read this poll (card already known)


@dataclass(frozen=True)
class _Several:
    count: int


@dataclass(frozen=True)
class _Unreadable:
    uid: bytes


_Seen = _Absent | _Card | _Several | _Unreadable


class CardReader(ThreadedDevice):
    """Polls one reader chip (an MFRC522 or a PN5180, drivers.card_chip.CardChip) and
    posts card and device events; see the module docstring.

    The polling thread's life cycle (`start`, idempotent `close`, context manager) is
    `drivers.device_thread.ThreadedDevice`'s; closing switches the antenna off.
    """

    def __init__(
        self,
        chip: CardChip,
        post: Post,
        *,
        interval_s: float = 0.1,
        key: bytes = b"\xff" * 6,
        data_blocks: tuple[int, ...] = (8, 9, 10),
        removal_polls: int = 2,
        reinit_after_failures: int = 3,
    ) -> None:
        if len(key) != 6:
            raise ValueError("a MIFARE key is 6 bytes")
        if removal_polls < 1 or reinit_after_failures < 1:
            raise ValueError("removal_polls and reinit_after_failures are at least 1")
        super().__init__(thread_name="card-reader", join_timeout_s=max(1.0, 5 * interval_s))
        self.chip = chip
        self.post = post
        self.interval_s = interval_s
        self.key = bytes(key)
        self.data_blocks = tuple(data_blocks)
        self.removal_polls = removal_polls
        self.reinit_after_failures = reinit_after_failures
        self._lock = threading.Lock()  # one poll or self-test at a time
        self._ready = False  # chip initialised since the last failure
        self._hard_reset_next = True  # on open, and once the chip has gone silent
        self._faulted = False  # a DeviceFault is outstanding
        self._failures = 0
        self._present: bytes | None = None
        self._several = False
        self._absent_polls = 0
        self._read_failures: dict[bytes, int] = {}
        self.beat = lambda: None  # the watchdog's heartbeat (firmware.heartbeats); set before start()

    # -- what callers may look at --

    @property
    def present_uid(self) -> bytes | None:
        """The card currently considered in the field (after debouncing)."""
        return self._present

    @property
    def faulted(self) -> bool:
        return self._faulted

    # -- one cycle --

    def poll_once(self) -> None:
        """One poll: (re)initialise if needed, look at the field, post what changed."""
        with self._lock:
            if not self._ready and self._initialise() is not None:
                return
            try:
                seen = self._scan()
            except ChipNotResponding as exc:
                log.warning("card reader stopped answering (%s); re-initialising", exc)
                self._ready = False
                self._hard_reset_next = True
                self._initialise()
                return
            except CardReaderError as exc:
                self._failures += 1
                log.info("card reader poll failed (%s), %d in a row", exc, self._failures)
                if self._failures >= self.reinit_after_failures:
                    self._ready = False
                    self._initialise()
                return
            self._failures = 0
            self._update(seen)

    def _initialise(self) -> CardReaderError | None:
        """Reset and set up the chip; post the fault or the recovery it amounts to.
        Returns the error when the chip did not come up."""
        try:
            self.chip.init(hard_reset=self._hard_reset_next)
        except CardReaderError as exc:
            self._ready = False
            self._hard_reset_next = True
            if not self._faulted:
                self._faulted = True
                log.error("card reader fault: %s", exc)
                self.post(DeviceFault(DEVICE, "reader-silent", FAULT_HINTS["reader-silent"]))
            return exc
        self._ready = True
        self._hard_reset_next = False
        self._failures = 0
        if self._faulted:
            self._faulted = False
            self.post(DeviceRecovered(DEVICE))
        return None

    def _scan(self) -> _Seen:
        try:
            self.chip.wakeup_a()
        except NoCard:
            if self._present is None and not self._several and not self._read_failures:
                return _Absent()
            # A card we know of may have been left READY/IDLE by an interrupted
            # cycle (a READY card ignores the first WUPA): ask once more.
            try:
                self.chip.wakeup_a()
            except NoCard:
                return _Absent()
        try:
            card = self.chip.select()
        except CollisionError:
            # Anticollision leaves every card READY, so the tree can be walked now.
            return _Several(max(2, self.chip.count_cards()))
        if card.uid == self._present:
            self.chip.halt()
            return _Card(card.uid, None)
        return self._read(card)

    def _read(self, card: SelectedCard) -> _Seen:
        data = bytearray()
        authenticated_trailer: int | None = None
        try:
            for block in self.data_blocks:
                trailer = sector_trailer(block)
                if trailer != authenticated_trailer:
                    self.chip.authenticate(trailer, self.key, card.uid)
                    authenticated_trailer = trailer
                data += self.chip.read_block(block)
        except AuthError:
            # Not our key (another scheme's card): the UID still identifies it.
            self._stop_crypto1()
            return _Card(card.uid, b"")
        except ChipNotResponding:
            raise
        except CardReaderError as exc:
            log.info("reading card %s failed: %s", card.uid.hex(), exc)
            with contextlib.suppress(CardReaderError):
                self.chip.halt()  # so the next WUPA finds it again
            self._stop_crypto1()
            return _Unreadable(card.uid)
        self.chip.halt()
        self.chip.stop_crypto1()
        return _Card(card.uid, bytes(data))

    def _stop_crypto1(self) -> None:
        if self.chip.crypto1_on():
            self.chip.stop_crypto1()

    def _update(self, seen: _Seen) -> None:
        if isinstance(seen, _Absent):
            if self._present is None and not self._several:
                return
            self._absent_polls += 1
            if self._absent_polls >= self.removal_polls:
                self._absent_polls = 0
                self._several = False
                if self._present is not None:
                    uid, self._present = self._present, None
                    self.post(CardRemoved(uid))
            return
        self._absent_polls = 0
        if isinstance(seen, _Several):
            if not self._several:
                self._several = True
                self.post(MultipleCards(seen.count))
            return
        self._several = False
        if isinstance(seen, _Unreadable):
            failures = self._read_failures.get(seen.uid, 0) + 1
            if failures < _READ_ATTEMPTS:
                self._read_failures = {seen.uid: failures}
                return
            seen = _Card(seen.uid, b"")
        self._read_failures = {}
        if seen.uid == self._present:
            return
        if self._present is not None:
            self.post(CardRemoved(self._present))
        self._present = seen.uid
        self.post(CardPresented(seen.uid, seen.data or b""))

    # -- background polling --

    def _run(self) -> None:
        """Poll every `interval_s` until `close()`; `start()` runs this on a daemon thread."""
        while not self._stop.is_set():
            self.beat()
            try:
                self.poll_once()
            except Exception:  # the poller must outlive one bad cycle
                log.exception("card reader poll crashed")
            self._stop.wait(self.interval_s)

    def _release(self) -> None:
        """After the poller stopped: switch the antenna off."""
        with self._lock, contextlib.suppress(CardReaderError):
            self.chip.antenna_off()

    # -- self-test --

    def diagnose(self) -> list[DiagResult]:
        """Version register, antenna, and a test read if a card lies on the reader.
        Stops at the first failure: later checks would only repeat it."""
        with self._lock:
            return self._diagnose()

    def _diagnose(self) -> list[DiagResult]:
        results: list[DiagResult] = []
        try:
            version = self.chip.version() if self._ready else 0x00
        except CardReaderError:
            version = 0x00
        if version in (0x00, 0xFF):
            self._hard_reset_next = True
            error = self._initialise()
            if error is not None:
                return [DiagResult.fault(DEVICE, "reader-silent", detail=str(error))]
            version = self.chip.version()
        results.append(DiagResult.passed(DEVICE, detail=f"version register 0x{version:02X}"))
        try:
            if not self.chip.antenna_is_on():
                self.chip.antenna_on()
            if not self.chip.antenna_is_on():
                detail = "antenna drivers stay off"
                if self.chip.temperature_error():
                    detail += " (chip reports overheating)"
                results.append(DiagResult.fault(DEVICE, "reader-antenna", detail=detail))
                return results
            results.append(DiagResult.passed(DEVICE, detail="antenna on"))
            results.append(self._test_card())
        except ChipNotResponding as exc:
            self._ready = False
            self._hard_reset_next = True
            results.append(DiagResult.fault(DEVICE, "reader-silent", detail=str(exc)))
        return results

    def _test_card(self) -> DiagResult:
        try:
            self.chip.wakeup_a()
        except NoCard:
            return DiagResult.passed(DEVICE, detail="no test card in the field; card read not tested")
        try:
            card = self.chip.select()
        except CollisionError:
            return DiagResult.passed(DEVICE, detail="several cards in the field; card read not tested")
        except ChipNotResponding:
            raise
        except CardReaderError as exc:
            return DiagResult.fault(DEVICE, "reader-card-read-failed", detail=f"select failed: {exc}")
        seen = self._read(card)
        if isinstance(seen, _Card) and seen.data:
            return DiagResult.passed(DEVICE, detail=f"test card {card.uid.hex()} read")
        return DiagResult.fault(
            DEVICE, "reader-card-read-failed", detail=f"card {card.uid.hex()} seen but its blocks not read"
        )
