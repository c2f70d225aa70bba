"""A barcode scanner at the transport boundary: a pseudo-terminal the real driver opens.

Like OctoPrint's virtual printer, nothing above the serial port knows it is
simulated: `drivers.scanner.BarcodeScanner` opens `.port` with pyserial and reads the
bytes this class writes to the pty master.

`.port` is a stable symlink in a private temporary directory that points at the
current pty slave. `unplug()` closes the master (the driver's reads fail with EIO, as
when a USB scanner is pulled) and removes the link; `plug()` makes a new pty and
points the same path at it, so the driver's reconnect finds the scanner again.

Opening a serial port flushes its input, so bytes written before the driver opened
the port are lost. `wait_opened()` waits for that flush: the master is put in packet
mode (TIOCPKT), where the kernel reports the slave's input flush as a
TIOCPKT_FLUSHREAD status byte. After `wait_opened()` returns True, scans arrive.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import select
import shutil
import struct
import tempfile
import termios
import threading
import time
import tty

from drivers.scanner import SUFFIX_BYTES, Suffix

_TIOCPKT_FLUSHREAD = 0x01


class SimulatedScanner:
    """A serial barcode scanner on a pseudo-terminal; `.port` is what the driver opens."""

    def __init__(self, suffix: Suffix = "CR", *, name: str = "scanner") -> None:
        if suffix not in SUFFIX_BYTES:
            raise ValueError(f"suffix must be CR, LF or CRLF, got {suffix!r}")
        self.suffix: Suffix = suffix
        self._directory = tempfile.mkdtemp(prefix="sim-scanner-")
        self.port = os.path.join(self._directory, name)
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._opened = False
        self.plug()

    # -- the cable ---------------------------------------------------------------------

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Connect the scanner: a fresh pty behind the same `.port` path."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing: bytes pass as the scanner sent them
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
            os.set_blocking(master, False)
            link = f"{self.port}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(os.ttyname(slave), link)
            os.replace(link, self.port)
            self._master, self._slave = master, slave
            self._opened = False

    def unplug(self) -> None:
        """Pull the cable: the driver's next read fails with EIO; the port path vanishes."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.port)
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None

    @property
    def opened(self) -> bool:
        """A driver has opened this pty (as far as `wait_opened` has seen)."""
        return self._opened

    def wait_opened(self, timeout: float = 2.0) -> bool:
        """Wait until a driver has opened (and flushed) the current pty; True if it
        did. Any number of callers may ask: once seen, it stays seen until `plug()`."""
        deadline = time.monotonic() + timeout
        while not self._opened and (remaining := deadline - time.monotonic()) > 0:
            master = self._master
            if master is None:
                return False
            try:
                readable, _, _ = select.select([master], [], [], min(remaining, 0.05))
                if not readable:
                    continue
                packet = os.read(master, 4096)
            except BlockingIOError:
                continue  # another caller took the status byte
            except OSError:
                return False  # unplugged meanwhile
            if packet and packet[0] & _TIOCPKT_FLUSHREAD:
                self._opened = True
        return self._opened

    # -- what the scanner sends ----------------------------------------------------------

    def scan(self, barcode: str) -> bool:
        """The scanner reads `barcode`: its text and the suffix arrive in one burst.
        False when unplugged (nobody hears it)."""
        return self._write(barcode.encode("ascii") + SUFFIX_BYTES[self.suffix])

    def scan_split(self, barcode: str, pieces: int = 3, gap_s: float = 0.002) -> bool:
        """The same scan arriving in `pieces` writes with small gaps, as a slow USB
        bridge delivers it."""
        data = barcode.encode("ascii") + SUFFIX_BYTES[self.suffix]
        pieces = max(1, min(pieces, len(data)))
        cuts = [round(i * len(data) / pieces) for i in range(pieces + 1)]
        for start, end in itertools.pairwise(cuts):
            if not self._write(data[start:end]):
                return False
            time.sleep(gap_s)
        return True

    def noise(self, data: bytes) -> bool:
        """Raw bytes on the line: power-up garbage, a wrong baud rate, a cable fault."""
        return self._write(data)

    def _write(self, data: bytes) -> bool:
        with self._lock:
            if self._master is None:
                return False
            os.write(self._master, data)
            return True

    # -- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        """Unplug and remove the temporary directory. Safe to call twice."""
        self.unplug()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> SimulatedScanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
