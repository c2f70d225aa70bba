"""An ESC/POS receipt printer at the transport boundary: a pseudo-terminal the real
driver opens with pyserial (`drivers.receipt_printer.SerialPrinterLink(printer.port)`).

It answers the real-time status query DLE EOT n as a thermal printer does (paper
present, near end or out; online or offline) and keeps every other byte it is sent
in `received`, so a test can assert the exact job. `switch_off()` makes it silent
(bytes vanish, no status answers), as a printer whose power is off; `paper_out()`
makes it answer "roll paper end". `jobs()` splits what it received at each ESC @.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty

DLE_EOT = b"\x10\x04"
_ONLINE, _OFFLINE_BIT = 0x12, 0x08
_PAPER_OK, _PAPER_NEAR_END, _PAPER_END = 0x12, 0x1E, 0x72


class SimulatedPrinter:
    """A serial ESC/POS printer on a pty; `.port` is what the driver opens."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # bytes pass unchanged: no echo, no LF -> CR LF
        self.port = os.ttyname(self._slave)
        self.received = bytearray()
        self.queries: list[int] = []
        self.powered = True
        self.paper = "ok"  # "ok" | "low" | "out"
        self.cover_open = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._pending = b""
        self._thread = threading.Thread(target=self._run, name="sim-printer", daemon=True)
        self._thread.start()

    # -- the world's hands -------------------------------------------------------------

    def switch_off(self) -> None:
        self.powered = False

    def switch_on(self) -> None:
        self.powered = True

    def paper_out(self) -> None:
        self.paper = "out"

    def load_paper(self) -> None:
        self.paper = "ok"

    def jobs(self) -> list[bytes]:
        """What was printed, one entry per job (each starts with ESC @)."""
        with self._lock:
            data = bytes(self.received)
        return [b"\x1b@" + part for part in data.split(b"\x1b@")[1:]]

    def wait_for(self, n_bytes_ending: bytes, timeout: float = 3.0) -> bool:
        """Wait until the received bytes end with `n_bytes_ending` (e.g. the cut)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: bytes(self.received).endswith(n_bytes_ending), timeout
            )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SimulatedPrinter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the printer's firmware -------------------------------------------------------------

    def _status(self, n: int) -> int:
        if n == 4:
            return {"ok": _PAPER_OK, "low": _PAPER_NEAR_END, "out": _PAPER_END}[self.paper]
        offline = self.paper == "out" or self.cover_open
        return _ONLINE | (_OFFLINE_BIT if n == 1 and offline else 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue
            if not self.powered:
                continue
            self._take(data)

    def _take(self, data: bytes) -> None:
        data = self._pending + data
        self._pending = b""
        out = bytearray()
        i = 0
        while i < len(data):
            if data[i : i + 2] == DLE_EOT:
                if i + 2 >= len(data):
                    self._pending = data[i:]
                    break
                n = data[i + 2]
                self.queries.append(n)
                os.write(self._master, bytes([self._status(n)]))
                i += 3
                continue
            if data[i] == DLE_EOT[0] and i + 1 == len(data):
                self._pending = data[i:]
                break
            out.append(data[i])
            i += 1
        with self._changed:
            self.received += out
            self._changed.notify_all()
