"""`python -m kiosk_tools --sim --headless --script FILE`: play a scenario end to end.

The runner owns what a scenario does to the world around the kiosk: it starts the
kiosk as a child process on simulated hardware (so `power cut` can SIGKILL it and
start it again on the same journal), puts a cuttable TCP proxy between kiosk and
broker (`hub down` / `hub up`, with any broker), and judges every `expect` against
what the kiosk showed and what the hub's ledger holds. It exits non-zero at the first
failed `expect`, naming the line and what was seen instead; when the kiosk's requests
went unanswered meanwhile, it says so (no hub answered within the kiosk's request
timeout, or the kiosk had no broker), since that is then the likely cause.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hal_sim.scenario_steps import (
    Drop,
    Ecard,
    ExpectAttempts,
    ExpectCommitted,
    ExpectDue,
    ExpectHold,
    ExpectLoan,
    ExpectMessage,
    ExpectOffline,
    ExpectOnline,
    ExpectPending,
    ExpectRefused,
    ExpectRenewed,
    ExpectReturn,
    ExpectRoute,
    ExpectScreen,
    ExpectSecured,
    ExpectTitle,
    HubDown,
    HubUp,
    Lift,
    Place,
    PowerCut,
    ScenarioError,
    Step,
    Tap,
    Wait,
)
from hal_sim.tcp_proxy import CuttableProxy
from kiosk_tools.ecard_source import EcardUnavailable, issue_token
from kiosk_tools.kiosk_child import KioskChild, Shown
from kiosk_tools.ledger_probe import LedgerProbe, probe_id

LOANED = ("loaned", "offline_loaned")
SETTLED = ("acked", "rejected", "exception")


class ExpectationFailed(ScenarioError):
    """An `expect` did not hold within its time."""


@dataclass
class ScriptRunner:
    steps: list[Step]
    broker_url: str
    kiosk_argv: list[str]  # `python -m kiosk_tools ...` for the child, without --broker
    kiosk_id: str
    out: TextIO = sys.stdout
    expect_timeout_s: float = 10.0
    commit_timeout_s: float = 30.0
    kiosk_log: TextIO | None = None
    probe_identity: Path | None = None
    request_timeout_s: float = 3.0  # the kiosk's [hub] request_timeout_s, for the hint
    _timeouts_seen: int = 0  # hub timeouts already explained (before the last expect held)
    _last_ecard: str | None = None  # the token the last `ecard` step scanned (`ecard CARD again`)

    def run(self) -> int:
        from contract.broker_url import parse_broker_url

        address = parse_broker_url(self.broker_url)
        proxy = CuttableProxy(address.host, address.port)
        scheme = "mqtts" if address.tls else "mqtt"  # the proxy passes TLS bytes through
        child = KioskChild(
            [*self.kiosk_argv, "--broker", f"{scheme}://127.0.0.1:{proxy.port}"], self.kiosk_log
        )
        probe: LedgerProbe | None = None
        try:
            child.start()
            self._settle_link(child)
            for step in self.steps:
                self._say(step)
                if isinstance(step, ExpectCommitted) and probe is None:
                    try:
                        probe = LedgerProbe(self.broker_url, self.kiosk_id, self.probe_identity)
                    except ValueError as exc:
                        raise ScenarioError(step.line, str(exc)) from None
                self._play(step, child, proxy, probe)
            self.out.write(f"PASS: all {len(self.steps)} steps held\n")
            return 0
        except ScenarioError as exc:
            self.out.write(f"FAIL: {exc}\n")
            return 1
        finally:
            child.quit()
            proxy.close()
            if probe is not None:
                probe.close()

    def _settle_link(self, child: KioskChild) -> None:
        """A scenario starts at a kiosk that has (re)connected to its hub, as one in the
        field has long before a reader comes: a tap in the first milliseconds after
        start would otherwise meet a kiosk still connecting and be served offline. Bounded;
        a kiosk that never comes online is the scenario's to judge."""
        if not child.wait_for(lambda s: s.view.get("online") is True, self.expect_timeout_s):
            self.out.write(
                f"note: the kiosk was not online within {self.expect_timeout_s:g} s "
                f"(is the broker running at {self.broker_url}?)\n"
            )

    def _say(self, step: Step) -> None:
        if isinstance(step, Tap):
            text = f"tap {_masked(step.card)}"  # card numbers are never printed whole
        elif isinstance(step, Ecard):
            text = " ".join(["ecard", _masked(step.card), *([step.kind] if step.kind != "fresh" else [])])
        elif isinstance(step, ExpectRefused) and step.barcode[:1] != "3":
            text = " ".join(["expect refused", _masked(step.barcode), *filter(None, [step.reason])])
        elif isinstance(step, ExpectMessage) and step.barcode[:1] != "3":
            text = f"expect message {_masked(step.barcode)} {step.text}"
        elif isinstance(step, Place | Lift | Drop):
            text = _step_text(step)
        elif isinstance(step, ExpectSecured):
            book = step.barcode if step.part is None else f"{step.barcode}:{step.part}/…"
            text = f"expect secured {book} {'on' if step.on else 'off'}"
        else:
            fields = [str(v) for k, v in vars(step).items() if k != "line" and v is not None]
            text = " ".join([step.verb, *fields])
        self.out.write(f"line {step.line}: {text}\n")
        self.out.flush()

    def _play(self, step: Step, child: KioskChild, proxy: CuttableProxy, probe: Any) -> None:
        match step:
            case Wait(seconds=seconds):
                time.sleep(seconds)
            case HubDown():
                proxy.cut()
            case HubUp():
                proxy.restore()
                self._timeouts_seen = len(child.shown.hub_timeouts)  # the cut explains those
            case Tap(card=card):
                with child._cond:
                    child.shown.tap(card)
                self._send(step, child)
            case Ecard():
                self._show_ecard(step, child)
            case PowerCut():
                child.kill()
                child.shown.view = {}
                child.start()
                if proxy.up:
                    self._settle_link(child)
            case ExpectScreen(screen=screen):
                self._expect(step, child, lambda s: s.view.get("screen") == screen,
                             lambda s: f"screen {s.view.get('screen')!r}")
            case ExpectOnline() | ExpectOffline():
                want = isinstance(step, ExpectOnline)
                self._expect(step, child, lambda s: s.view.get("online") is want,
                             lambda s: "online" if s.view.get("online") else "offline")
            case ExpectPending(count=count):
                self._expect(step, child, lambda s: s.view.get("offline_pending") == count,
                             lambda s: f"{s.view.get('offline_pending')!r} pending "
                             f"({'online' if s.view.get('online') else 'offline'})")
            case ExpectLoan(barcode=barcode):
                self._expect_line(step, child, barcode, lambda line: line["status"] in LOANED)
            case ExpectRenewed(barcode=barcode):
                self._expect_line(step, child, barcode, lambda line: line["status"] == "renewed")
            case ExpectAttempts(count=count):
                self._expect(step, child,
                             lambda s: s.view.get("screen") == "pin"
                             and s.view.get("pin_attempts_left") == count,
                             lambda s: f"screen {s.view.get('screen')!r}, "
                             f"attempts left {s.view.get('pin_attempts_left')!r}")
            case ExpectRefused(barcode=barcode, reason=reason):
                self._expect_line(
                    step, child, barcode,
                    lambda line: line["status"] == "refused"
                    and (reason is None or line.get("reason_code") == reason),
                )
            case ExpectReturn(barcode=barcode):
                self._expect_line(step, child, barcode, lambda line: line["status"] == "returned")
            case ExpectRoute(barcode=barcode, route=route, library=library):
                self._expect_line(
                    step, child, barcode,
                    lambda line: line.get("route") == route
                    and (library is None or line.get("route_library") == library),
                )
            case ExpectTitle(barcode=barcode, text=text):
                self._expect_line(step, child, barcode, lambda line: text in (line.get("title") or ""))
            case ExpectDue(barcode=barcode, due=due):
                self._expect_line(step, child, barcode, lambda line: (line.get("due") or "")[:10] == due)
            case ExpectMessage(barcode=barcode, text=text):
                self._expect_line(step, child, barcode, lambda line: _says(line, text))
            case ExpectHold(barcode=barcode, status=status, library=library):
                self._expect(step, child, lambda s: _holds(s.view, barcode, status, library),
                             lambda s: f"holds {_holds_seen(s.view)} (screen {s.view.get('screen')!r})")
            case ExpectSecured():
                self._expect_secured(step, child)
            case ExpectCommitted(barcode=barcode):
                self._expect_committed(step, child, probe, barcode)
            case _:
                self._send(step, child)

    def _show_ecard(self, step: Ecard, child: KioskChild) -> None:
        """Get a token from the hub (kiosk_tools.ecard_source), or take the last one
        again, and scan it at the desk as the reader's phone is shown."""
        if step.kind == "again":
            if self._last_ecard is None:
                raise ScenarioError(step.line, "'ecard CARD again' needs an earlier 'ecard' step")
            token = self._last_ecard
        else:
            try:
                token = issue_token(step.card, self.kiosk_id, expired=step.kind == "expired")
            except EcardUnavailable as exc:
                raise ScenarioError(step.line, str(exc)) from None
        self._last_ecard = token
        with child._cond:
            child.shown.tap(step.card)  # its refusals are the card's, as a tap's are
        reply = child.call("step", line=f"scan {token}")
        if reply.get("type") == "error":
            raise ScenarioError(step.line, reply.get("message", "the kiosk refused the step"))

    @staticmethod
    def _send(step: Step, child: KioskChild) -> None:
        reply = child.call("step", line=_step_text(step))
        if reply.get("type") == "error":
            raise ScenarioError(step.line, reply.get("message", "the kiosk refused the step"))

    def _expect(
        self,
        step: Step,
        child: KioskChild,
        check: Callable[[Shown], bool],
        describe: Callable[[Shown], str],
    ) -> None:
        if not child.wait_for(check, self.expect_timeout_s):
            raise ExpectationFailed(
                step.line,
                f"'{step.verb}' did not hold; saw {describe(child.shown)}{self._unanswered(child)}",
            )
        self._timeouts_seen = len(child.shown.hub_timeouts)

    def _unanswered(self, child: KioskChild) -> str:
        """Why the kiosk may have shown something else: its requests to the hub went
        unanswered since the last `expect` held (not while the runner cut the hub)."""
        new = child.shown.hub_timeouts[self._timeouts_seen :]
        if not new:
            return ""
        ops = ", ".join(dict.fromkeys(op for op, _link in new))
        if any(link == "up" for _op, link in new):
            return (
                f" — the hub did not answer the kiosk's request ({ops}) within "
                f"{self.request_timeout_s:g} s: is the hub running and reachable at {self.broker_url}?"
            )
        return (
            f" — the kiosk had no connection to the broker for its request ({ops}): "
            f"is the broker running at {self.broker_url}?"
        )

    def _expect_line(
        self, step: Step, child: KioskChild, barcode: str, check: Callable[[dict], bool]
    ) -> None:
        def holds(shown: Shown) -> bool:
            return any(check(line) for line in shown.lines.get(barcode, ()))

        def seen(shown: Shown) -> str:
            lines = shown.lines.get(barcode)
            if not lines:
                what = _masked(barcode) if barcode in shown.cards else barcode
                return f"no line for {what} (screen {shown.view.get('screen')!r})"
            last = lines[-1]
            keys = ("status", "reason_code", "route", "route_library", "title", "due")
            said = [f"{k}={last.get(k)}" for k in keys if last.get(k) is not None]
            if last.get("message"):
                said.append(f"message={(last['message'] or {}).get('en')!r}")
            return ", ".join(said)

        self._expect(step, child, holds, seen)

    def _expect_secured(self, step: ExpectSecured, child: KioskChild) -> None:
        """Asks the kiosk for the tags' security until every one is as expected: the
        switch follows the journal write, so it may come a moment after the loan shows."""
        deadline = time.monotonic() + self.expect_timeout_s
        while True:
            reply = child.call("secured", item=step.barcode, part=step.part)
            if reply.get("type") == "error":
                raise ScenarioError(step.line, reply.get("message", "the kiosk has no such tag"))
            tags = reply["tags"]
            if all(t["secured"] is step.on for t in tags):
                return
            if time.monotonic() >= deadline:
                seen = ", ".join(f"{t['tag']} {'on' if t['secured'] else 'off'}" for t in tags)
                raise ExpectationFailed(
                    step.line,
                    f"'expect secured' did not hold within {self.expect_timeout_s:g} s; "
                    f"saw security {seen}{self._unanswered(child)}",
                )
            time.sleep(0.1)

    def _expect_committed(self, step: Step, child: KioskChild, probe: Any, barcode: str) -> None:
        deadline = time.monotonic() + self.commit_timeout_s
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = child.call("rows", item=barcode)["rows"]
            if rows and all(r["status"] in SETTLED for r in rows):
                break
            time.sleep(0.1)
        if not rows:
            raise ExpectationFailed(step.line, f"the kiosk's journal has no row for {barcode}")
        unsettled = [r for r in rows if r["status"] not in SETTLED]
        if unsettled:
            raise ExpectationFailed(
                step.line,
                f"{len(unsettled)} row(s) for {barcode} still wait for the hub's ack: no hub "
                f"acked them within {self.commit_timeout_s:g} s (is the hub running and "
                f"reachable at {self.broker_url}?)",
            )
        rejected = [r for r in rows if r["status"] == "rejected"]
        if rejected:
            raise ExpectationFailed(step.line, f"the hub rejected {barcode} ({rejected[0]['kind']})")
        kinds = [r["kind"] for r in rows]
        doubled = [a for a, b in itertools.pairwise(kinds) if a == b == "loan"]
        if doubled:
            raise ExpectationFailed(step.line, f"{barcode} was lent twice in a row: {kinds}")
        try:
            counts = probe.rows([r["txn_id"] for r in rows])
        except TimeoutError:
            raise ExpectationFailed(
                step.line,
                f"the hub did not answer the ledger query for {barcode}: is the hub running "
                f"and reachable at {self.broker_url}?",
            ) from None
        wrong = {t: counts.get(t, 0) for t in (r["txn_id"] for r in rows) if counts.get(t, 0) != 1}
        if wrong:
            raise ExpectationFailed(step.line, f"ledger rows per txn for {barcode}: {wrong}")


def probe_beside(identity: str | Path | None, kiosk_id: str) -> Path | None:
    """The ledger probe's enrolment bundle beside the kiosk's (`DIR/../ID-probe`), if
    there is one there."""
    if not identity:
        return None
    folder = Path(identity).resolve().parent / probe_id(kiosk_id)
    return folder if (folder / "kiosk.crt").is_file() else None


def _says(line: dict[str, Any], word: str) -> bool:
    """Whether the line's message (either language) contains `word`, any case."""
    message = line.get("message") or {}
    return any(word.casefold() in (message.get(lang) or "").casefold() for lang in ("zh", "en"))


def _holds(view: dict[str, Any], barcode: str, status: str, library: str | None) -> bool:
    """Whether the view's greeting names the hold (firmware.view.HoldNote as JSON)."""
    return any(
        h.get("barcode") == barcode and h.get("status") == status and library in (None, h.get("library_id"))
        for h in view.get("holds") or ()
    )


def _holds_seen(view: dict[str, Any]) -> str:
    holds = [f"{h.get('barcode')} {h.get('status')} at {h.get('library_id')}" for h in view.get("holds") or ()]
    return "[" + ", ".join(holds) + "]" if holds else "none"


def _masked(card: str) -> str:
    return f"{card[:4]}…{card[-3:]}"


def _step_text(step: Step) -> str:
    """The step back as script text, for the kiosk's own parser."""
    from hal_sim.scenario_steps import (
        Clear,
        Jam,
        Pin,
        Press,
        Remove,
        Scan,
    )

    match step:
        case Tap(card=card, uid=uid):
            return f"tap {card}" + (f" uid={uid.hex()}" if uid else "")
        case Remove():
            return "remove"
        case Pin(digits=digits):
            return f"pin {digits}"
        case Scan(barcode=barcode):
            return f"scan {barcode}"
        case Drop(tag=None, barcode=barcode):
            return f"drop {barcode}"
        case Drop(tag=tag) if tag is not None:
            return f"drop {tag.text}:tag"
        case Place(tags=tags):
            return " ".join(["place", *(t.text for t in tags)])
        case Lift(tags=tags):
            return " ".join(["lift", *(t.name for t in tags)])
        case Jam(beam=beam):
            return f"jam {beam}" if beam != "entry" else "jam"
        case Clear():
            return "clear"
        case Press(action=action):
            return f"press {action}"
    raise ScenarioError(step.line, f"'{step.verb}' cannot be sent to the kiosk")


def run_script(
    script: Path,
    *,
    broker_url: str,
    kiosk_id: str,
    library_id: str,
    config_path: str | None,
    identity: str | None = None,
    probe_identity: str | None = None,
    request_timeout_s: float = 3.0,
    out: TextIO = sys.stdout,
) -> int:
    """Parse `script` (line-numbered errors exit 2) and play it against a fresh journal.
    `probe_identity`: the ledger probe's bundle (`expect committed` on TLS); unset, the
    one enrolled beside `identity` (`hub.lab.lab`'s layout: `kiosks/ID` and `kiosks/ID-probe`)."""
    from hal_sim.scenario import load_scenario

    try:
        steps = load_scenario(str(script))
    except ScenarioError as exc:
        out.write(f"{script}: {exc}\n")
        return 2
    except OSError as exc:
        out.write(f"{script}: cannot read the script: {exc.strerror}\n")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-script-"))
    argv = [
        sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--control-stdio",
        "--journal", str(workdir / "journal.sqlite3"),
        "--kiosk-id", kiosk_id, "--library", library_id,
    ]
    if config_path:
        argv += ["--config", config_path]
    if identity:
        argv += ["--identity", identity]
    log_path = workdir / "kiosk.log"
    probe = Path(probe_identity) if probe_identity else probe_beside(identity, kiosk_id)
    with open(log_path, "w", encoding="utf-8") as log:
        runner = ScriptRunner(
            steps, broker_url, argv, kiosk_id, out=out, kiosk_log=log,
            probe_identity=probe, request_timeout_s=request_timeout_s,
        )  # fmt: skip
        status = runner.run()
    if status != 0:
        out.write(f"kiosk log: {log_path}\n")
    return status
