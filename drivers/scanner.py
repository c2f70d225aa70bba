"""Serial barcode scanner (RS-232 or USB in CDC mode) over pyserial.

The scanner sends each barcode as printable ASCII followed by a suffix (CR, LF or
CR/LF). The driver turns that byte stream into `BarcodeRead` events, reports what is
not a barcode as `BarcodeRejected`, and survives the cable being pulled: it posts one
`DeviceFault("scanner-unplugged")`, reopens the port with exponential backoff and
posts `DeviceRecovered` when the scanner is back.

Framing is a pure class (`LineFramer`) so it can be tested without a port. It accepts
CR, LF and CR/LF whatever `suffix` is configured: a scanner reset to its factory
ending must not silently stop working, and an empty line between CR and LF is
ignored anyway.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import FAULT_HINTS, DiagResult
from drivers.events import BarcodeRead, BarcodeRejected, DeviceFault, DeviceRecovered, Post

log = logging.getLogger("drivers.scanner")

Suffix = Literal["CR", "LF", "CRLF"]
SUFFIX_BYTES: dict[str, bytes] = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}
_TERMINATORS = frozenset(b"\r\n")
_PRINTABLE = range(0x20, 0x7F)


# The longest line a scanner delivers: a phone e-card's QR text (contract.ecard.MAX_TEXT,
# issue 19) is the longest thing a reader shows the desk scanner; books are 14 characters.
MAX_LINE = 200


@dataclass(frozen=True)
class Frame:
    """One line out of the byte stream: a barcode (`reason is None`) or a rejected line."""

    text: str
    length: int
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class LineFramer:
    """Reassembles lines split across reads and rejects what is not a barcode.

    Lines with a byte outside printable ASCII are rejected as "non-printable"; lines
    longer than `max_length` as "overlong" (their bytes are counted, not kept, and
    framing resynchronises at the next line ending). Empty lines are ignored.
    Leading/trailing spaces are stripped from barcodes.
    """

    def __init__(self, suffix: Suffix = "CR", max_length: int = 48) -> None:
        if suffix not in SUFFIX_BYTES:
            raise ValueError(f"suffix must be CR, LF or CRLF, got {suffix!r}")
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.suffix = suffix
        self.max_length = max_length
        self._buffer = bytearray()
        self._length = 0
        self._overlong = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held (or counted, when overlong)."""
        return self._length

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for byte in data:
            if byte in _TERMINATORS:
                frame = self._end_line()
                if frame is not None:
                    frames.append(frame)
                continue
            self._length += 1
            if self._overlong:
                continue
            if self._length > self.max_length:
                self._overlong = True
                self._buffer.clear()
                continue
            self._buffer.append(byte)
        return frames

    def flush(self) -> list[Frame]:
        """End an unfinished line (the scanner went quiet mid-line): it is garbage,
        not a barcode, because every barcode ends with the suffix."""
        if not self._length:
            return []
        length, overlong = self._length, self._overlong
        self._reset()
        return [Frame("", length, "overlong" if overlong else "non-printable")]

    def _end_line(self) -> Frame | None:
        length, overlong, raw = self._length, self._overlong, bytes(self._buffer)
        self._reset()
        if overlong:
            return Frame("", length, "overlong")
        if any(b not in _PRINTABLE for b in raw):
            return Frame("", length, "non-printable")
        text = raw.decode("ascii").strip()
        if not text:
            return None
        return Frame(text, length)

    def _reset(self) -> None:
        self._buffer.clear()
        self._length = 0
        self._overlong = False


def fault_code_for(exc: BaseException) -> str:
    """The fault code for a scanner that cannot be opened or read: no permission (the
    service user lacks the `dialout` or `input` group), held by another program, or
    simply not there."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return "scanner-no-permission"
    if code == errno.EBUSY:
        return "scanner-busy"
    return "scanner-unplugged"


class BarcodeScanner(ThreadedDevice):
    """A serial barcode scanner posting `BarcodeRead`/`BarcodeRejected` from a thread.

    `source` is "desk" (borrowing) or "chute" (the return chute's in-line scanner);
    faults name the device "scanner" or "chute_scanner" accordingly. `start()` opens
    the port in the reader thread (a missing scanner is posted as a fault, not
    raised); `wait_connected()` tells a caller when bytes
    written by the device will arrive (opening a port flushes its input). `close()`,
    entering and leaving are `drivers.device_thread.ThreadedDevice`'s.

    `kind`, `port` and `last_error` are what `diag` reports. Subclasses for other
    transports (`drivers.hid_scanner.HidScanner`) override `_open` and `_read_bytes`
    only: framing, validation, faults and the self-test stay the same for every kind.
    """

    kind = "serial"

    def __init__(
        self,
        port: str,
        post: Post,
        *,
        baudrate: int = 9600,
        suffix: Suffix = "CR",
        source: str = "desk",
        max_length: int = MAX_LINE,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        partial_line_timeout_s: float = 0.5,
    ) -> None:
        self.device = "scanner" if source == "desk" else f"{source}_scanner"
        super().__init__(thread_name=f"{self.device}-reader")
        self.port = port
        self.baudrate = baudrate
        self.suffix: Suffix = suffix
        self.source = source
        self.max_length = max_length
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.partial_line_timeout_s = partial_line_timeout_s
        self._post = post
        self._framer = LineFramer(suffix, max_length)
        self._connected = threading.Event()
        self._diag_lines: queue.Queue[Frame] | None = None
        self.last_error: str | None = None  # the last open or read failure, for diag
        self.last_fault = "scanner-unplugged"  # its code, while the device is not open
        self.beat = lambda: None  # the watchdog's heartbeat (firmware.heartbeats); set before start()

    # -- life cycle --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """True once the port is open and flushed: from now on scans are not lost."""
        return self._connected.wait(timeout)

    # -- the reader thread --------------------------------------------------------

    def _open(self) -> Any:
        import serial  # the backend is chosen when the device opens (STYLE.md)

        # A short timeout lets the thread notice close() and quiet partial lines.
        return serial.Serial(self.port, self.baudrate, timeout=0.05)

    def _read_bytes(self, port: Any) -> bytes:
        """What the scanner sent since the last call (b"" after a short wait)."""
        data: bytes = port.read(port.in_waiting or 1)
        return data

    def _run(self) -> None:
        """Open the port, read until it goes away, reopen with backoff; until `close()`."""
        delay = self.reconnect_initial_s
        faulted: str | None = None  # the fault code posted last, until recovery
        while not self._stop.is_set():
            self.beat()
            try:
                port = self._open()
            except (OSError, ValueError) as exc:  # SerialException is an OSError
                self.last_error = f"cannot open {self.port}: {exc}"
                code = self.last_fault = fault_code_for(exc)
                if faulted != code:
                    faulted = code
                    self._post(self._fault(code))
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            delay = self.reconnect_initial_s
            if faulted is not None:
                faulted = None
                self._post(DeviceRecovered(self.device))
            self._connected.set()
            try:
                self._read_until_gone(port)
            except OSError as exc:  # EIO/ENODEV: the cable was pulled, the USB device went away
                self.last_error = f"{self.port} went away: {exc}"
                faulted = self.last_fault = "scanner-unplugged"
                self._post(self._fault(faulted))
            finally:
                self._connected.clear()
                with contextlib.suppress(OSError):
                    port.close()
                self._deliver(self._framer.flush())

    def _fault(self, code: str) -> DeviceFault:
        return DeviceFault(self.device, code, FAULT_HINTS[code])

    def _read_until_gone(self, port: Any) -> None:
        last_byte_at = time.monotonic()
        while not self._stop.is_set():
            self.beat()
            data = self._read_bytes(port)
            now = time.monotonic()
            if data:
                last_byte_at = now
                self._deliver(self._framer.feed(data))
            elif self._framer.pending and now - last_byte_at >= self.partial_line_timeout_s:
                self._deliver(self._framer.flush())

    def _deliver(self, frames: list[Frame]) -> None:
        diag = self._diag_lines
        for frame in frames:
            if frame.reason == "overlong":
                log.warning(
                    "%s: dropped a line of %d characters without a line ending "
                    "(longer than %d: not a barcode)",
                    self.device,
                    frame.length,
                    self.max_length,
                )
            if diag is not None:
                diag.put(frame)
            elif frame.ok:
                self._post(BarcodeRead(frame.text, self.source))
            else:
                self._post(BarcodeRejected(frame.reason or "", frame.length, self.source))

    # -- self-test ------------------------------------------------------------------

    def diagnose(
        self,
        readback: Callable[[str], object] | None = None,
        *,
        readback_timeout_s: float = 2.0,
    ) -> list[DiagResult]:
        """Self-test: the port opens and, given `readback` (a callable that makes the
        scanner emit the test code it is given, e.g. the simulator's `scan`), the test
        scan comes back. While the test runs, lines go to the test, not to the core, so
        the test code can never become a loan."""
        running = self.running
        where = f"{self.kind} {self.port}"
        if running and not self.wait_connected(readback_timeout_s):
            detail = f"{where}: absent ({self.last_error or 'not opened yet'})"
            return [DiagResult.fault(self.device, self.last_fault, detail)]
        port: Any = None
        if not running:
            try:
                port = self._open()
            except (OSError, ValueError) as exc:
                self.last_error = f"cannot open {self.port}: {exc}"
                return [DiagResult.fault(self.device, fault_code_for(exc), f"{where}: {exc}")]
        try:
            if readback is None:
                detail = f"{where} opens"
                if self.last_error:
                    detail += f" (last error: {self.last_error})"
                return [DiagResult.passed(self.device, detail)]
            return [self._readback_test(readback, readback_timeout_s, port)]
        finally:
            if port is not None:
                port.close()

    def _readback_test(
        self,
        readback: Callable[[str], object],
        timeout_s: float,
        port: Any,
    ) -> DiagResult:
        code = f"DIAG{uuid.uuid4().hex[:8].upper()}"
        where = f"{self.kind} {self.port}"
        lines: queue.Queue[Frame] = queue.Queue()
        self._diag_lines = lines
        try:
            readback(code)
            deadline = time.monotonic() + timeout_s
            framer = LineFramer(self.suffix, self.max_length)
            while (remaining := deadline - time.monotonic()) > 0:
                if port is not None:
                    for frame in framer.feed(self._read_bytes(port)):
                        lines.put(frame)
                try:
                    frame = lines.get(timeout=remaining if port is None else 0)
                except queue.Empty:
                    continue
                if frame.text == code:
                    return DiagResult.passed(self.device, f"test scan read back on {where}")
            return DiagResult.fault(self.device, "scanner-no-readback", f"{where}: expected {code}")
        finally:
            self._diag_lines = None
