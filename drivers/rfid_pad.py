"""An RFID book-tag reader as the kiosk sees it: a poller that turns a PN5180's
inventories into one event per stack.

The lending pad (`source="desk"`) and the return chute's reader (`source="chute"`) are
both this poller. Each poll is one ISO 15693 inventory (drivers.iso15693: anticollision,
each tag once); what it posts (drivers.events):

* BooksPresented(tags) at the first poll that has read a new tag, with every tag on the
  pad now, in inventory order: a stack laid down at once is one event, shown without
  waiting; a book added later posts the whole stack again (the core lends no book
  twice). A tag missing from an inventory counts as gone only after `settle_polls`
  polls without it (one lost slot is not a book lifted); then the smaller stack is
  posted;
* BooksLifted once the pad has been empty for `settle_polls` polls;
* DeviceFault(device, "rfid-reader-silent", hint) when the chip stops answering and
  re-initialising it fails, DeviceRecovered when a later initialisation works.

Each new tag's first `read_blocks` blocks are read once (then `read_blocks` more at a
time while the library's data model says the record goes on: `cut_short`, from
contract.tag_data, injected so the poller itself interprets nothing) and kept while the
tag stays in the field: in its inventory slot when books arrive on an empty pad (NXP INVENTORY READ,
drivers.iso15693), by an addressed READ MULTIPLE BLOCKS for a book added to a stack; a tag whose read fails is tried
again on the next polls and presented without data (`TagRead.data == b""`) after
`read_attempts` failures, so the reader is told to scan that book's barcode instead of
waiting for nothing. A tag that answers the inventory but never cleanly enough to give
its UID is presented the same way, with an empty UID. The poller does not interpret the
data: the library's data model is the core's business.

The security switch (drivers.rfid_security) writes to tags through `exclusive()`, the
same lock the poll holds, so a write never interleaves with an inventory on the chip.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import FAULT_HINTS, DiagResult
from drivers.events import BooksLifted, BooksPresented, DeviceFault, DeviceRecovered, Post, TagRead
from drivers.iso15693 import ISO15693Reader, TagError
from drivers.mfrc522_pcd import ResetLine
from drivers.pn5180_host import RF_STATUS, PN5180Error

TX_RF_STATUS = 1 << 17  # RF_STATUS: the transmitter drives the field

log = logging.getLogger(__name__)

SILENT = "rfid-reader-silent"
TAG_READ_FAILED = "tag-read-failed"
ANTENNA = "rfid-antenna"
BLOCK_SIZE = 4  # ICODE SLIX / SLIX2 blocks, as TagRead.block_size says by default
FIRMWARE_VERSION_AT = 0x12  # EEPROM address of the PN5180's firmware version (minor, major)


@dataclass(frozen=True)
class _Stack:
    """What one inventory saw: the UIDs (as printed, 0xE0 first) in inventory order and
    how many tags answered without ever giving a clean UID."""

    uids: tuple[bytes, ...] = ()
    unreadable: int = 0

    @property
    def empty(self) -> bool:
        return not self.uids and not self.unreadable

    def key(self) -> tuple[frozenset[bytes], int]:
        return frozenset(self.uids), self.unreadable


class RfidPad(ThreadedDevice):
    """Polls one PN5180's ISO 15693 field and posts stack and device events; see the
    module docstring. `device` names it in faults and the self-test ("rfid_pad" or
    "chute_rfid")."""

    def __init__(
        self,
        reader: ISO15693Reader,
        post: Post,
        *,
        source: str = "desk",
        device: str = "rfid_pad",
        interval_s: float = 0.1,
        settle_polls: int = 2,
        read_blocks: int = 10,
        read_attempts: int = 3,
        reinit_after_failures: int = 3,
        reset_line: ResetLine | None = None,
        cut_short: Callable[[bytes], bool] | None = None,
        max_blocks: int = 64,
    ) -> None:
        if settle_polls < 1 or read_blocks < 1 or read_attempts < 1 or reinit_after_failures < 1:
            raise ValueError("settle_polls, read_blocks, read_attempts and reinit_after_failures are at least 1")
        super().__init__(thread_name=f"{device}-poller", join_timeout_s=max(1.0, 5 * interval_s))
        self.reader = reader
        self.post = post
        self.source = source
        self.device = device
        self.interval_s = interval_s
        self.settle_polls = settle_polls
        self.read_blocks = read_blocks
        self.read_attempts = read_attempts
        self.reinit_after_failures = reinit_after_failures
        self.reset_line = reset_line
        self.cut_short = cut_short
        self.max_blocks = max_blocks
        self._lock = threading.RLock()  # the chip: one poll, write or self-test at a time
        self._ready = False
        self._hard_reset_next = True
        self._faulted = False
        self._failures = 0
        self._data: dict[bytes, bytes] = {}  # memory of the tags in the field, by UID
        self._read_failures: dict[bytes, int] = {}
        self._seen = _Stack()  # the last inventory
        self._same_polls = 0  # how many polls in a row saw `_seen`
        self._reported = _Stack().key()  # what the core was told last: an empty pad at first
        self.beat = lambda: None  # the watchdog's heartbeat (firmware.heartbeats); set before start()

    # -- what callers may look at --

    @property
    def faulted(self) -> bool:
        return self._faulted

    def in_field(self, uid: bytes) -> bool:
        """True when the last inventory saw the tag `uid` (as printed, 0xE0 first)."""
        return uid in self._seen.uids

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[ISO15693Reader]:
        """The reader, to this caller alone: no poll runs until the block ends."""
        with self._lock:
            if not self._ready:
                self._initialise()
            yield self.reader

    # -- one cycle --

    def poll_once(self) -> None:
        """One poll: (re)initialise if needed, take an inventory, post what settled."""
        with self._lock:
            if not self._ready and self._initialise() is not None:
                return
            try:
                stack = self._inventory()
            except TagError as exc:  # a tag, not the chip: the next poll tries again
                log.info("%s: a tag's answer made no sense (%s)", self.device, exc)
                return
            except PN5180Error as exc:
                self._failures += 1
                log.warning("%s poll failed (%s), %d in a row", self.device, exc, self._failures)
                if self._failures >= self.reinit_after_failures or exc.code in ("reader-busy", "reader-silent"):
                    self._ready = False
                    self._hard_reset_next = True
                    self._initialise()
                return
            self._failures = 0
            self._update(stack)

    def _inventory(self) -> _Stack:
        """One inventory. A pad that was empty at the last poll is read with the tags'
        blocks in their slots (INVENTORY READ: the stack laid down is read in one pass);
        a pad with books at rest gets a plain inventory, the blocks of any newcomer read
        after it, so a resting stack costs no block reads per poll."""
        arriving = not self._seen.uids
        found = self.reader.inventory(read=(0, self.read_blocks)) if arriving else self.reader.inventory()
        uids = tuple(found.uids)
        for gone in set(self._data) - set(uids):
            del self._data[gone]
        self._read_failures = {uid: n for uid, n in self._read_failures.items() if uid in uids}
        for tag in found.tags:
            if tag.uid in self._data:
                continue
            if tag.data is not None:
                self._data[tag.uid] = self._complete(tag.uid, tag.data)
            elif not arriving:
                self._read(tag.uid)
            else:
                self._read_failed(tag.uid, "its blocks did not come with the inventory")
        return _Stack(uids, len(found.unreadable))

    def _read(self, uid: bytes) -> None:
        try:
            data = self.reader.read_blocks(uid, 0, self.read_blocks)
        except TagError as exc:
            self._read_failed(uid, str(exc))
            return
        self._data[uid] = self._complete(uid, data)

    def _complete(self, uid: bytes, data: bytes) -> bytes:
        """The first blocks, and more (`read_blocks` at a time, addressed) while the data
        model says the record goes on (`cut_short`). A tag that ends first, or a read
        that fails, leaves what was read: the core finds it undecodable and says so."""
        while self.cut_short is not None and self.cut_short(data) and len(data) // BLOCK_SIZE < self.max_blocks:
            count = min(self.read_blocks, self.max_blocks - len(data) // BLOCK_SIZE)
            try:
                data += self.reader.read_blocks(uid, len(data) // BLOCK_SIZE, count)
            except TagError as exc:
                log.info("%s: tag %s's record goes on past what it lets us read (%s)", self.device, uid.hex(), exc)
                break
        return data

    def _read_failed(self, uid: bytes, why: str) -> None:
        failures = self._read_failures.get(uid, 0) + 1
        self._read_failures[uid] = failures
        log.info("%s: reading tag %s failed (%s), attempt %d", self.device, uid.hex(), why, failures)
        if failures >= self.read_attempts:
            self._data[uid] = b""  # presented as unreadable: the reader is told

    def _update(self, stack: _Stack) -> None:
        if stack.key() == self._seen.key():
            self._same_polls += 1
        else:
            self._seen, self._same_polls = stack, 1
        if any(uid not in self._data for uid in stack.uids):
            return  # a read still to retry: not settled
        if stack.key() == self._reported:
            return
        uids, unreadable = self._reported
        arrived = bool(set(stack.uids) - uids) or stack.unreadable > unreadable
        if not arrived and self._same_polls < self.settle_polls:
            return  # only missing tags: perhaps a slot lost this once, not a book lifted
        self._reported = stack.key()
        if stack.empty:
            self.post(BooksLifted(self.source))
            return
        tags = tuple(TagRead(uid[::-1], self._data[uid]) for uid in stack.uids)
        tags += tuple(TagRead(b"", b"") for _ in range(stack.unreadable))
        self.post(BooksPresented(tags, self.source))

    def _initialise(self) -> PN5180Error | None:
        """Reset (hard, on RST, when the chip went silent) and set the chip up for ISO
        15693; post the fault or the recovery it amounts to."""
        try:
            if self._hard_reset_next and self.reset_line is not None:
                self.reset_line.hard_reset()
            self._check_alive()
            self.reader.init()
        except PN5180Error as exc:
            self._ready = False
            self._hard_reset_next = True
            if not self._faulted:
                self._faulted = True
                log.error("%s fault: %s", self.device, exc)
                self.post(DeviceFault(self.device, SILENT, FAULT_HINTS[SILENT]))
            return exc
        self._ready, self._hard_reset_next, self._failures = True, False, 0
        if self._faulted:
            self._faulted = False
            self.post(DeviceRecovered(self.device))
        return None

    def _check_alive(self) -> int:
        """The chip's firmware version (major in the high nibble); 0x0000 or 0xFFFF is a
        chip that does not drive MISO: unpowered, unplugged or held in reset."""
        raw = self.reader.host.read_eeprom(FIRMWARE_VERSION_AT, 2)
        if raw in (b"\x00\x00", b"\xff\xff"):
            raise PN5180Error(
                f"PN5180 firmware version reads {raw.hex()}: the chip does not answer",
                device=self.device,
            )
        return (raw[1] << 4) | (raw[0] & 0x0F)

    # -- background polling --

    def _run(self) -> None:
        """Poll every `interval_s` until `close()`; `start()` runs this on a daemon thread."""
        while not self._stop.is_set():
            self.beat()
            try:
                self.poll_once()
            except Exception:  # the poller must outlive one bad cycle
                log.exception("%s poll crashed", self.device)
            self._stop.wait(self.interval_s)

    def _release(self) -> None:
        """After the poller stopped: the field off."""
        with self._lock, contextlib.suppress(PN5180Error):
            self.reader.field_off()

    # -- self-test --

    def diagnose(self) -> list[DiagResult]:
        """The chip's firmware version, the field, and a test tag's read when one lies
        in the field. Stops at the first failure."""
        with self._lock:
            try:
                version = self._check_alive()
            except PN5180Error:
                self._ready, self._hard_reset_next = False, True
                error = self._initialise()
                if error is not None:
                    return [DiagResult.fault(self.device, SILENT, detail=str(error))]
                version = self._check_alive()
            results = [DiagResult.passed(self.device, f"PN5180 firmware {version >> 4}.{version & 0xF}")]
            try:
                if not self._ready and self._initialise() is not None:
                    return [*results, DiagResult.fault(self.device, SILENT, "the chip does not take its RF setup")]
                found = self.reader.inventory()
                if not self.reader.host.read_register(RF_STATUS) & TX_RF_STATUS:
                    results.append(DiagResult.fault(self.device, ANTENNA, "the RF field stays off after RF_ON"))
                    return results
                results.append(DiagResult.passed(self.device, "field on"))
                results.append(self._test_tag(found.uids, len(found.unreadable)))
            except PN5180Error as exc:
                self._ready, self._hard_reset_next = False, True
                results.append(DiagResult.fault(self.device, SILENT, detail=str(exc)))
            return results

    def _test_tag(self, uids: list[bytes], unreadable: int) -> DiagResult:
        if not uids:
            if unreadable:
                return DiagResult.fault(self.device, TAG_READ_FAILED, "a tag answers but its UID never comes clean")
            return DiagResult.passed(self.device, "no test tag in the field; tag read not tested")
        uid = uids[0]
        try:
            data = self.reader.read_blocks(uid, 0, self.read_blocks)
            afi = self.reader.get_system_info(uid).afi
        except TagError as exc:
            return DiagResult.fault(self.device, TAG_READ_FAILED, f"tag {uid.hex().upper()} seen, not read: {exc}")
        shown = "unknown" if afi is None else f"0x{afi:02X}"
        return DiagResult.passed(
            self.device, f"test tag {uid.hex().upper()} read ({len(data)} bytes, AFI {shown})"
        )
