"""One chaos-soak kiosk in a child process of its own, so that its power can be cut: the
real hub link (`firmware.hub_link.HubLink`, enrolled, verifying what the hub signs) over
a real journal, reached through its own cuttable route (`kiosk_tools.demo_route`).

Why a process: a power cut is the kiosk dying between two instructions, its paho
session, its in-flight rows and its half-done acks gone with it. Threads in the soak's
own process cannot be killed; a child can (SIGKILL), and is started again on the same
journal file, as a kiosk reboots: `Journal.open` finds the rows that were in flight
still unacked and the link sends them again (the hub acks a repeat as `duplicate`).

The parent (`ChaosKiosk`) makes the txns (bench.soak_order.World) and the child only
journals them, so txn ids stay unique across reboots. Protocol on the child's stdin and
stdout, one JSON object a line, each request answered in order:

    {"op": "record", "txn": {...}}   -> {"connected": bool}  (once journalled)
    {"op": "stats"}                  -> {"depth": N, "acks": {...}, "connected": bool}
    {"op": "close"}                  -> {}  then a clean stop (link "offline", journal closed)

What a caller may rely on: a `record` answered means the row is committed in the journal
(what the reader is told); `power_cut()` SIGKILLs the child and returns once it is gone;
`cut_after_next_record()` does so right after the next row is journalled;
`boot()` starts a new child on the same journal. The child's log (INFO, the link's own
lines) is appended to `LOG` beside the journal, across reboots.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from contract import messages
from firmware.txn_ids import TxnIdFactory
from kiosk_tools.demo_route import DemoRoute

ROOT = Path(__file__).resolve().parents[1]
BOOT_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 20.0


class KioskGone(RuntimeError):
    """The kiosk child is not running (its power is cut) or stopped answering."""


class ChaosKiosk:
    """The parent's handle on one kiosk child: its journal path, route and txn ids.

    Quacks as bench.soak_order.World expects of a kiosk (`kiosk_id`, `library`, `ids`,
    `online`, `serving`, `record`)."""

    def __init__(self, kiosk_id: str, library: str, broker_url: str, workdir: Path, identity: Path) -> None:
        self.kiosk_id, self.library = kiosk_id, library
        self.path = workdir / f"{kiosk_id}.sqlite3"
        self.log = workdir / f"{kiosk_id}.log"
        self.identity = identity  # the enrolment bundle directory (hub.lab.lab.BUNDLE_FILES)
        self.ids = TxnIdFactory(kiosk_id, None)
        self.route = DemoRoute.open(broker_url)
        self.child: subprocess.Popen[str] | None = None
        self.connected = False
        self.acks: Counter[str] = Counter()  # of the acks that settled a row, every boot
        self._boot_acks: Counter[str] = Counter()
        self.boots = 0
        self._cut_after_record: Callable[[], None] | None = None

    # ---- what the world sees ----

    @property
    def serving(self) -> bool:
        """Readers can use it: it has power."""
        return self.child is not None

    @property
    def online(self) -> bool:
        """What the kiosk itself believes: connected to the hub (a black hole is noticed
        late, so this is true for a while after the route died)."""
        return self.serving and self.connected

    def record(self, txn: messages.Txn) -> None:
        answer = self._ask({"op": "record", "txn": txn.model_dump(mode="json")})
        self.connected = bool(answer["connected"])
        if self._cut_after_record is not None:
            then, self._cut_after_record = self._cut_after_record, None
            self.power_cut()
            then()

    def cut_after_next_record(self, then: Callable[[], None] | None) -> None:
        """Cut the power just after the next row is journalled (its publish under way, its
        ack not back: the worst moment for the outbox), then call `then`; None: do not."""
        self._cut_after_record = then

    # ---- life ----

    def boot(self) -> None:
        """Start the child on the journal file (a reboot after a power cut)."""
        log = self.log.open("a", encoding="utf-8")
        try:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "bench.chaos_kiosk", self.kiosk_id, self.library,
                 self.route.kiosk_url, str(self.path), str(self.identity)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
            )  # fmt: skip
        finally:
            log.close()
        self.boots += 1
        self._boot_acks = Counter()
        line = self._read_line(BOOT_TIMEOUT_S)
        if line.strip() != "READY":
            self.power_cut()
            raise KioskGone(f"kiosk {self.kiosk_id} did not boot: {line!r}; its log: {self.log}")

    def power_cut(self) -> None:
        """SIGKILL: no clean close, no "offline" said, nothing flushed but what SQLite has."""
        if self.child is None:
            return
        self.child.send_signal(signal.SIGKILL)
        self.child.wait(10)
        self._close_pipes()
        self.child = None
        self.connected = False
        self.acks += self._boot_acks
        self._boot_acks = Counter()

    def stats(self) -> dict[str, Any]:
        answer = self._ask({"op": "stats"})
        self.connected = bool(answer["connected"])
        self._boot_acks = Counter(answer["acks"])
        return answer

    def close(self) -> None:
        if self.child is not None:
            try:
                self.stats()
                self._ask({"op": "close"})
                self.child.wait(10)
            except (KioskGone, subprocess.TimeoutExpired):
                self.child.kill()
                self.child.wait(10)
            self._close_pipes()
            self.child = None
            self.acks += self._boot_acks
            self._boot_acks = Counter()
        self.route.close()

    # ---- the pipe ----

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.child is None or self.child.stdin is None:
            raise KioskGone(f"kiosk {self.kiosk_id} has no power")
        try:
            self.child.stdin.write(json.dumps(request) + "\n")
            self.child.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise KioskGone(f"kiosk {self.kiosk_id} died: {exc}; its log: {self.log}") from None
        line = self._read_line(ANSWER_TIMEOUT_S)
        if not line:
            raise KioskGone(f"kiosk {self.kiosk_id} died (exit {self.child.poll()}); its log: {self.log}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise KioskGone(f"kiosk {self.kiosk_id}: {answer['error']}")
        return answer

    def _read_line(self, timeout_s: float) -> str:
        assert self.child is not None and self.child.stdout is not None
        ready, _w, _x = select.select([self.child.stdout], [], [], timeout_s)
        if not ready:
            raise KioskGone(f"kiosk {self.kiosk_id} did not answer in {timeout_s:.0f} s; its log: {self.log}")
        return self.child.stdout.readline()

    def _close_pipes(self) -> None:
        assert self.child is not None
        for pipe in (self.child.stdin, self.child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


# ---- the child ------------------------------------------------------------------------


def _serve(kiosk_id: str, library: str, broker_url: str, journal_path: Path, identity: Path,
           stdin: IO[str], stdout: IO[str]) -> None:  # fmt: skip
    from contract import signing
    from firmware.core.events import LinkChanged, TxnAcked
    from firmware.hub_link import HubLink, TlsFiles
    from firmware.journal import Journal

    acks: Counter[str] = Counter()
    state = {"connected": False}

    def on_event(event: object) -> None:  # called from the link's threads
        if isinstance(event, TxnAcked):
            acks[event.ack.result] += 1
        elif isinstance(event, LinkChanged):
            state["connected"] = event.online

    journal = Journal.open(journal_path)
    link = HubLink(
        broker_url, kiosk_id, library, on_event, firmware_version="chaos", journal=journal,
        fetch_blocklist=False,
        tls=TlsFiles(ca=identity / "ca.crt", cert=identity / "kiosk.crt", key=identity / "kiosk.key"),
        hub_public_key=signing.load_public_key(identity / "hub-signing.pub"),
    )  # fmt: skip
    link.start()
    print("READY", file=stdout, flush=True)
    for line in stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "record":
            txn = messages.Txn.model_validate(request["txn"])
            journal.record(txn)
            link.notify_new_txn()
            answer: dict[str, Any] = {"connected": state["connected"]}
        elif op == "stats":
            answer = {"depth": journal.depth(), "acks": dict(acks), "connected": state["connected"]}
        elif op == "close":
            print("{}", file=stdout, flush=True)
            break
        else:
            answer = {"error": f"unknown op {op!r}"}
        print(json.dumps(answer), file=stdout, flush=True)
    link.stop(timeout=1.0)
    journal.close()


def main(argv: list[str]) -> int:
    kiosk_id, library, broker_url, journal_path, identity = argv
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format=f"%(asctime)s {kiosk_id} pid {os.getpid()} %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    started = time.monotonic()
    logging.getLogger("bench.chaos_kiosk").info("booting on %s", journal_path)
    _serve(kiosk_id, library, broker_url, Path(journal_path), Path(identity), sys.stdin, sys.stdout)
    logging.getLogger("bench.chaos_kiosk").info("clean stop after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
