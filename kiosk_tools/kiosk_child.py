"""The kiosk under a scenario: a child process on simulated hardware, spoken to over its
JSON-lines control channel (`kiosk_tools.control`), and what it has shown the reader."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from firmware.core.catalogue_keys import CARD_STATE_REASONS

# A refused card shows notice.card_refused with the card's state; `expect refused CARD
# REASON` names the reason as the core's reason codes do (firmware.core.catalogue_keys).
CARD_REFUSED_NOTICE = "notice.card_refused"
# Too many wrong PINs end the session with this notice: `expect refused CARD pin_locked`.
PIN_LOCKED_NOTICE = "notice.pin_locked"
# A refused phone e-card (issue 19): `expect refused CARD ecard_used` and the like.
ECARD_REFUSED_NOTICE = "notice.ecard_refused"


@dataclass
class Shown:
    """Everything the kiosk showed during the run, as the runner saw it."""

    view: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tapped: str | None = None  # the card last tapped, for card refusals
    cards: set[str] = field(default_factory=set)  # every card tapped in this run
    # (request, the kiosk's broker link then) of each request to the hub that ended
    # unanswered, oldest first (kiosk_tools.control's `hub_timeout` messages).
    hub_timeouts: list[tuple[str, str]] = field(default_factory=list)

    def tap(self, card: str) -> None:
        self.tapped = card
        self.cards.add(card)

    def add(self, view: dict[str, Any]) -> None:
        previous, self.view = self.view, view
        for line in view.get("items", ()):
            self._note(line["barcode"], line)
        refused_now = view.get("notice") == CARD_REFUSED_NOTICE
        if refused_now and previous.get("notice") != CARD_REFUSED_NOTICE and self.tapped:
            # The card just tapped was refused: keep it as a refused "line" under its number.
            state = dict(view.get("notice_args") or ()).get("state", "unknown")
            line = {
                "status": "refused",
                "reason_code": CARD_STATE_REASONS.get(state, "card_unknown"),
            }
            self.lines.setdefault(self.tapped, []).append(line)
        ecard_now = view.get("notice") == ECARD_REFUSED_NOTICE
        if ecard_now and previous.get("notice") != ECARD_REFUSED_NOTICE and self.tapped:
            reason = dict(view.get("notice_args") or ()).get("reason", "ecard_invalid")
            line = {"status": "refused", "reason_code": reason, "message": view.get("hub_message")}
            self.lines.setdefault(self.tapped, []).append(line)
        locked_now = view.get("notice") == PIN_LOCKED_NOTICE
        if locked_now and previous.get("notice") != PIN_LOCKED_NOTICE and self.tapped:
            self.lines.setdefault(self.tapped, []).append(
                {"status": "refused", "reason_code": "pin_locked"}
            )

    def _note(self, key: str, line: dict[str, Any]) -> None:
        seen = self.lines.setdefault(key, [])
        if not seen or seen[-1] != line:
            seen.append(line)


class KioskChild:
    """The kiosk process and its JSON-lines control channel (kiosk_tools.control)."""

    def __init__(
        self,
        argv: list[str],
        log: TextIO | None,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = argv
        self._log = log
        self._env = env
        self._cwd = cwd
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self.shown = Shown()
        self._n = 0
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.launch()
        if not self.wait_ready(timeout_s):
            raise RuntimeError("the kiosk did not start (see its log)")

    def launch(self) -> None:
        """Start the process without waiting for it to say ready: a supervisor (systemd,
        or a test playing it) starts a release that may never come up."""
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log or subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=self._env,
            cwd=self._cwd,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Whether the kiosk said ready on its control channel within `timeout_s`."""
        return self._ready.wait(timeout_s)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                continue
            kind = message.get("type")
            if kind == "view":
                with self._cond:
                    self.shown.add(message["view"])
                    self._cond.notify_all()
            elif kind == "hub_timeout":
                with self._cond:
                    self.shown.hub_timeouts.append(
                        (str(message.get("op")), str(message.get("link")))
                    )
            elif kind == "ready":
                self._ready.set()
            else:
                self._replies.put(message)

    def send(self, op: str, **fields: Any) -> int:
        """Ask without waiting for the answer (`call` waits); returns the request's n."""
        assert self.proc is not None and self.proc.stdin is not None
        self._n += 1
        n = self._n
        self.proc.stdin.write(json.dumps({"op": op, "n": n, **fields}, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        return n

    def call(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        n = self.send(op, **fields)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                reply = self._replies.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"the kiosk did not answer {op!r}") from None
            if reply.get("n") == n:
                return reply

    def wait_for(self, check: Callable[[Shown], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not check(self.shown):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def kill(self) -> None:
        """A power cut: SIGKILL, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def read_to_end(self, timeout_s: float = 10.0) -> Shown:
        """After the process ended: every view it wrote before it died, read to the end
        of its pipe (all the reader was shown, not just what arrived so far)."""
        if self._reader is not None:
            self._reader.join(timeout_s)
            if self._reader.is_alive():
                raise RuntimeError("the kiosk's output did not end: is it still running?")
        return self.shown

    def quit(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()
