"""ESC/POS receipt printer (58/80 mm thermal) on USB, a serial port or the network.

The core ends a session with `PrintReceipt(lines)`; the shell hands the lines to
`ReceiptPrinter.print_receipt`, which only queues them: a printer thread prints, so a
slow, offline or empty printer never holds up the session. The reader always has the
receipt as a QR code on the summary screen; paper is a convenience on top of it.

What a caller may rely on:

- `print_receipt` never blocks and never raises. A job the printer cannot take is
  dropped (logged), not printed late for the next reader.
- Before each job the printer's status is asked with DLE EOT (`status_query`): paper
  end posts `DeviceFault("printer", "printer-paper-out")` and the job is dropped; no
  answer, or an error opening or writing to the printer, posts `printer-offline`. Each
  fault is posted once; while it lasts the thread asks again every `recheck_s` and
  posts `DeviceRecovered("printer")` when the printer answers well again (or a job
  goes through).
- The bytes of a receipt (`render`): ESC @ (initialise), FS & (Chinese character
  mode), the wrapped lines encoded as the printer expects (GB18030 by default, what
  Chinese ESC/POS printers read in that mode), a feed and a partial cut (GS V 1).

The printer is reached through a `PrinterLink` (serial, usb, network below), each of
which opens a fresh connection per job: a printer switched off and on again, or a
network printer that dropped the connection, is found again without any state here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from drivers.device_thread import ThreadedDevice
from drivers.diagnostics import FAULT_HINTS, DiagResult
from drivers.events import DeviceFault, DeviceRecovered, Post

log = logging.getLogger("drivers.receipt_printer")

Encoding = Literal["gb18030", "gbk"]

ESC_INIT = b"\x1b@"
FS_CHINESE_MODE = b"\x1c&"  # FS &: multi-byte (GB) characters from here on
FEED_LINES = b"\x1bd"  # ESC d n: print and feed n lines
PARTIAL_CUT = b"\x1dV\x01"  # GS V 1
DLE_EOT = b"\x10\x04"  # DLE EOT n: real-time status
STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_ERROR_CAUSE, STATUS_PAPER = 1, 2, 3, 4
_PAPER_END = 0x60  # DLE EOT 4: roll paper end (bits 5 and 6)
_PAPER_NEAR_END = 0x0C  # DLE EOT 4: roll paper near end (bits 2 and 3)
_OFFLINE = 0x08  # DLE EOT 1: offline (cover open, paper out, feed button)


def is_status_byte(byte: int) -> bool:
    """Every DLE EOT answer has bits 1 and 4 set and bits 0 and 7 clear."""
    return byte & 0x93 == 0x12


# -- layout --------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Columns the text takes on a thermal printer: CJK (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def wrap_line(line: str, columns: int) -> list[str]:
    """One receipt line as printer lines that fit `columns` (CJK counts double)."""
    out: list[str] = []
    current, width = "", 0
    for ch in line:
        w = display_width(ch)
        if width + w > columns:
            out.append(current.rstrip())
            current, width = ("", 0) if ch == " " else (ch, w)
            continue
        current += ch
        width += w
    if current.strip() or not out:
        out.append(current.rstrip())
    return out


def layout(lines: Sequence[str], columns: int) -> str:
    """The receipt's text: wrapped lines between two rules, each ending in LF."""
    rule = "-" * columns
    body = [piece for line in lines for piece in wrap_line(line, columns)]
    return "".join(f"{text}\n" for text in (rule, *body, rule))


# -- links ----------------------------------------------------------------------------------


class PrinterConnection(Protocol):
    """One open connection to the printer (for one job or one status check)."""

    def write(self, data: bytes) -> None: ...
    def read(self, n: int, timeout_s: float) -> bytes: ...
    def close(self) -> None: ...


class PrinterLink(Protocol):
    """Where the printer is; `open` raises OSError when it cannot be reached."""

    def open(self) -> PrinterConnection: ...


@dataclass(frozen=True)
class SerialPrinterLink:
    """A printer on a serial port (or a USB-serial adapter), 8N1."""

    port: str
    baud: int = 9600
    write_timeout_s: float = 5.0

    def __str__(self) -> str:
        return f"serial {self.port}"

    def open(self) -> PrinterConnection:
        import serial  # the backend is chosen when the device opens (STYLE.md)

        try:
            port = serial.Serial(
                self.port, self.baud, timeout=0, write_timeout=self.write_timeout_s
            )
        except ValueError as exc:  # a bad setting, reported like a missing port
            raise OSError(str(exc)) from exc
        return _SerialConnection(port)


class _SerialConnection:
    def __init__(self, port: Any) -> None:
        self._port = port

    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def read(self, n: int, timeout_s: float) -> bytes:
        self._port.timeout = timeout_s
        data: bytes = self._port.read(n)
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._port.close()


@dataclass(frozen=True)
class UsbPrinterLink:
    """A USB printer through the kernel's printer class driver (usblp): its character
    device, e.g. `/dev/usb/lp0` or a stable udev name. usblp is two-way, so status
    queries work."""

    device: str

    def __str__(self) -> str:
        return f"usb {self.device}"

    def open(self) -> PrinterConnection:
        return _FileConnection(os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC))


class _FileConnection:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def read(self, n: int, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        return os.read(self._fd, n) if ready else b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass(frozen=True)
class NetworkPrinterLink:
    """A printer on the network, raw TCP (port 9100 on almost every model)."""

    host: str
    port: int = 9100
    timeout_s: float = 3.0

    def __str__(self) -> str:
        return f"network {self.host}:{self.port}"

    def open(self) -> PrinterConnection:
        return _SocketConnection(socket.create_connection((self.host, self.port), self.timeout_s))


class _SocketConnection:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)

    def read(self, n: int, timeout_s: float) -> bytes:
        self._sock.settimeout(timeout_s)
        try:
            return self._sock.recv(n)
        except TimeoutError:
            return b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


# -- the printer ---------------------------------------------------------------------------


class PrinterFault(Exception):
    """The printer cannot print now; `code` is its fault code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ReceiptPrinter(ThreadedDevice):
    """The kiosk's receipt printer; see the module docstring.

    The printer thread's life cycle is `drivers.device_thread.ThreadedDevice`'s:
    `close()` lets the receipts already queued print, then stops the thread.
    """

    device = "printer"

    def __init__(
        self,
        link: PrinterLink,
        post: Post,
        *,
        encoding: Encoding = "gb18030",
        columns: int = 32,
        cut: bool = True,
        status_query: bool = True,
        status_timeout_s: float = 1.0,
        recheck_s: float = 10.0,
        max_waiting: int = 4,
    ) -> None:
        super().__init__(thread_name="printer", join_timeout_s=10.0)
        self.link = link
        self.encoding: Encoding = encoding
        self.columns = columns
        self.cut = cut
        self.status_query = status_query
        self.status_timeout_s = status_timeout_s
        self.recheck_s = recheck_s
        self.last_error: str | None = None
        self.printed = 0  # jobs that went through, for diag and tests
        self._post = post
        self._jobs: queue.Queue[tuple[str, ...] | None] = queue.Queue(maxsize=max_waiting)
        self._fault: str | None = None
        self._idle = threading.Event()
        self._idle.set()

    # -- what the runtime calls -------------------------------------------------------

    def print_receipt(self, lines: Sequence[str]) -> None:
        """Queue the receipt for printing; never blocks, never raises."""
        if self.closed:
            return
        self._idle.clear()
        try:
            self._jobs.put_nowait(tuple(lines))
        except queue.Full:
            log.warning(
                "receipt printer: %d receipts wait already; this one is not printed "
                "(the reader has the QR code)",
                self._jobs.qsize(),
            )

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every queued receipt has been printed or dropped."""
        return self._idle.wait(timeout)

    # -- life cycle ---------------------------------------------------------------------

    def _wake(self) -> None:
        """The thread sleeps on the job queue: an end marker behind the queued jobs."""
        with contextlib.suppress(queue.Full):
            self._jobs.put_nowait(None)

    # -- the bytes ---------------------------------------------------------------------

    def render(self, lines: Sequence[str]) -> bytes:
        """The whole job as the printer gets it (pure)."""
        text = layout(lines, self.columns).encode(self.encoding, errors="replace")
        job = ESC_INIT + FS_CHINESE_MODE + text
        if self.cut:
            job += FEED_LINES + b"\x04" + PARTIAL_CUT
        return job

    # -- the printer thread -----------------------------------------------------------------

    def _run(self) -> None:
        """Print queued jobs until the end marker `_wake` queues (or, when the queue
        was full, until it has been emptied after `close()`)."""
        self._recheck()  # a printer missing at start shows up before the first reader
        while True:
            try:
                job = self._jobs.get(timeout=self.recheck_s if self._fault else None)
            except queue.Empty:
                self._recheck()
                continue
            if job is None:
                return
            try:
                self._print(job)
            finally:
                if self._jobs.empty():
                    self._idle.set()
            if self._stop.is_set() and self._jobs.empty():
                return

    def _print(self, lines: tuple[str, ...]) -> None:
        try:
            connection = self._open()
            try:
                self._check_status(connection)
                connection.write(self.render(lines))
            finally:
                connection.close()
        except PrinterFault as fault:
            self._set_fault(fault)
            log.warning("receipt not printed (%s); the reader has the QR code", fault)
            return
        except OSError as exc:
            self._set_fault(PrinterFault("printer-offline", f"{self.link}: {exc}"))
            log.warning("receipt not printed (%s: %s); the reader has the QR code", self.link, exc)
            return
        self.printed += 1
        self._set_fault(None)

    def _recheck(self) -> None:
        try:
            connection = self._open()
            try:
                self._check_status(connection)
            finally:
                connection.close()
        except PrinterFault as fault:
            self._set_fault(fault)
        except OSError as exc:
            self._set_fault(PrinterFault("printer-offline", f"{self.link}: {exc}"))
        else:
            self._set_fault(None)

    def _open(self) -> PrinterConnection:
        try:
            return self.link.open()
        except OSError as exc:
            raise PrinterFault("printer-offline", f"cannot open {self.link}: {exc}") from exc

    def _check_status(self, connection: PrinterConnection) -> str:
        """Raise PrinterFault unless the printer says it can print; returns a note
        ("paper low") for the self-test. Without `status_query`, nothing is asked."""
        if not self.status_query:
            return ""
        paper = self._ask(connection, STATUS_PAPER)
        if paper & _PAPER_END:
            raise PrinterFault(
                "printer-paper-out", f"{self.link}: paper end (status 0x{paper:02x})"
            )
        printer = self._ask(connection, STATUS_PRINTER)
        if printer & _OFFLINE:
            raise PrinterFault(
                "printer-offline", f"{self.link}: printer reports offline (cover open?)"
            )
        return "paper low" if paper & _PAPER_NEAR_END else ""

    def _ask(self, connection: PrinterConnection, n: int) -> int:
        connection.write(DLE_EOT + bytes([n]))
        answer = connection.read(1, self.status_timeout_s)
        if not answer or not is_status_byte(answer[0]):
            raise PrinterFault(
                "printer-offline", f"{self.link}: no answer to a status query (DLE EOT {n})"
            )
        return answer[0]

    def _set_fault(self, fault: PrinterFault | None) -> None:
        code = fault.code if fault else None
        if fault is not None:
            self.last_error = fault.detail
        if code == self._fault:
            return
        self._fault = code
        if code is None:
            self._post(DeviceRecovered(self.device))
        else:
            self._post(DeviceFault(self.device, code, FAULT_HINTS[code]))

    # -- self-test ----------------------------------------------------------------------

    def diagnose(self) -> list[DiagResult]:
        """Self-test: the printer can be reached and (with `status_query`) says it has
        paper and is online. Nothing is printed."""
        try:
            connection = self._open()
            try:
                note = self._check_status(connection)
            finally:
                connection.close()
        except PrinterFault as fault:
            self.last_error = fault.detail
            return [DiagResult.fault(self.device, fault.code, fault.detail)]
        except OSError as exc:
            self.last_error = f"{self.link}: {exc}"
            return [DiagResult.fault(self.device, "printer-offline", self.last_error)]
        detail = (
            f"{self.link} answers" if self.status_query else f"{self.link} opens (no status query)"
        )
        if note:
            detail += f"; {note}"
        return [DiagResult.passed(self.device, detail)]


def printer_link(
    kind: str,
    *,
    device: str | None = None,
    port: str | None = None,
    baud: int = 9600,
    host: str | None = None,
    tcp_port: int = 9100,
) -> PrinterLink:
    """The link for a configured printer (`devices.printer` in the kiosk's config)."""
    if kind == "usb" and device:
        return UsbPrinterLink(device)
    if kind == "serial" and port:
        return SerialPrinterLink(port, baud)
    if kind == "network" and host:
        return NetworkPrinterLink(host, tcp_port)
    raise ValueError(f"printer kind {kind!r} needs its device, port or host")
