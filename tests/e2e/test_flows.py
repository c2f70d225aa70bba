"""Kiosk flows end to end that the shipped-scenario run alone does not show.

The flow scenarios (renew, wrong PIN lockout, help, technician, inactivity logout) are
played by tests/e2e/test_scenarios.py like every scenario; here they are checked to be
there, and two flows that are not scenario steps are driven with real parts:
- hub commands (selftest, maintenance on/off) to a running kiosk over the real broker,
  answered on `.../cmd/result`, with the retained `.../state` following maintenance;
- privacy: during a borrow session the kiosk's JSON-lines log holds no whole card
  number or reader name, and no topic on the broker carries a card number.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import messages, topics
from contract.broker_url import parse_broker_url
from firmware.config import enrolment_overrides, load_config
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from kiosk_tools.simulated import build_simulated_kiosk
from tests.e2e.conftest import hub_signer, wiretap

REPO = Path(__file__).resolve().parents[2]
FLOW_SCENARIOS = ("renew", "wrong_pin_lockout", "help", "technician", "inactivity_logout")

# Demo reader of `python -m hub demo --json` (bj-joint, PIN 123456) and two Capital
# books no scenario uses; the privacy test runs on a ledger of its own.
READER_CARD = "0110000012341"
READER_PIN = "123456"
READER_NAME = "王小明"
BOOKS = ("30002000000158", "30002000000166")


class Observer:
    """An MQTT 5 client on the alliance broker as hub identity `hub-NAME`, with the
    test's wiretap role (tests/e2e/conftest.py `wiretap`): records every message it
    sees, and sends commands signed as the hub signs them."""

    def __init__(self, lab: Lab, broker: TlsMosquittoProcess, name: str, *topics: str) -> None:
        address = parse_broker_url(broker.url)
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.seen: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._signer = hub_signer(lab)
        self._client = wiretap(lab, broker, name)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda _c, _u, _m, reasons, _p: (
            None if any(r.is_failure for r in reasons) else self._subscribed.set()
        )
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        self._client.subscribe([(t, 1) for t in topics])
        if not self._subscribed.wait(10):
            raise RuntimeError("the observer's subscription was not granted")

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        item = (msg.topic, bytes(msg.payload), bool(msg.retain))
        with self._lock:
            self.seen.append(item)
        self.messages.put(item)

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _payload, _retain in self.seen]

    def send_command(self, topic: str, command: messages.Command) -> None:
        """Publish `command` on a kiosk's cmd topic, signed as the hub signs it."""
        payload = messages.encode(command)
        props = self._signer.properties_for(topic, command, payload)
        self._client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    def mark(self) -> int:
        """A cursor: `next_on(..., since=mark)` looks only at messages after it."""
        with self._lock:
            return len(self.seen)

    def next_on(
        self, topic: str, timeout_s: float, check: Any = lambda _p: True, since: int = 0
    ) -> bytes:
        """The first payload on `topic` after `since` that passes `check`."""

        def found() -> bytes | None:
            with self._lock:
                later = self.seen[since:]
            return next((p for t, p, _r in later if t == topic and check(p)), None)

        deadline = time.monotonic() + timeout_s
        while (payload := found()) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing matching arrived on {topic} within {timeout_s}s")
            time.sleep(0.02)
        return payload

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def test_the_flow_scenarios_are_shipped() -> None:
    names = {p.stem for p in (REPO / "scenarios").glob("*.txt")}
    assert set(FLOW_SCENARIOS) <= names
    header = (REPO / "scenarios" / "inactivity_logout.txt").read_text(encoding="utf-8")
    assert "# RUN WITH: --config scenarios/short_timeouts.toml" in header
    timeouts = load_config(REPO / "scenarios" / "short_timeouts.toml").timeouts
    assert (timeouts.inactivity_warn_s, timeouts.inactivity_logout_s) == (2, 4)


@pytest.fixture
def running_kiosk(alliance, tmp_path: Path) -> Iterator[Any]:
    """A simulated kiosk in this process, on the alliance's broker and hub, with its
    enrolment bundle as `--identity DIR` gives it (TLS files, the hub's public key)."""
    kiosk_id = f"e2e-cmd-{uuid.uuid4().hex[:6]}"
    bundle = alliance.lab.kiosk(kiosk_id, "capital").cert.parent
    config = load_config(
        None,
        {
            "hub.broker": alliance.broker_url,
            "kiosk.id": kiosk_id,
            "kiosk.library_id": "capital",
            **enrolment_overrides(bundle),
        },
    )
    kiosk = build_simulated_kiosk(config, journal_path=tmp_path / "journal.sqlite3")
    kiosk.start()
    try:
        yield kiosk
    finally:
        kiosk.stop()


def _state_is(want: str):
    return lambda payload: bool(payload) and messages.parse(messages.KioskState, payload).state == want


@pytest.mark.slow
def test_hub_commands_reach_a_running_kiosk(alliance, running_kiosk, poll) -> None:
    kiosk = running_kiosk
    kiosk_id = kiosk.runtime.core_config.kiosk_id
    state_topic = topics.topic(kiosk_id, "state")
    result_topic = topics.topic(kiosk_id, "cmd/result")
    observer = Observer(alliance.lab, alliance.broker, "observer", state_topic, result_topic)
    try:
        observer.next_on(state_topic, 15, _state_is("online"))
        poll(lambda: kiosk.runtime.view.online and kiosk.runtime.view.screen == "attract",
             15, "the kiosk online on the attract screen")

        marks: dict[str, int] = {}

        def command(cmd: str) -> messages.CommandResult:
            sent = messages.Command(cmd=cmd, cmd_id=f"{cmd}-{uuid.uuid4().hex[:8]}")
            marks[cmd] = observer.mark()
            observer.send_command(topics.topic(kiosk_id, "cmd"), sent)
            raw = observer.next_on(
                result_topic,
                20,
                lambda p: messages.parse(messages.CommandResult, p).cmd_id == sent.cmd_id,
                since=marks[cmd],
            )
            return messages.parse(messages.CommandResult, raw)

        # selftest: every simulated device passes and says so
        result = command("selftest")
        assert result.ok is True, result
        devices = {d["device"]: d for d in result.detail["devices"]}
        assert {"card_reader", "scanner", "chute"} <= set(devices), devices
        assert all(d["ok"] for d in devices.values()), devices

        # maintenance on: the maintenance screen (not a fault code), "maintenance"
        # retained for the fleet
        result = command("maintenance_on")
        assert result.ok is True and result.detail == {"maintenance": True}, result
        poll(lambda: kiosk.runtime.view.screen == "maintenance"
             and kiosk.runtime.view.out_of_service_code is None,
             10, "the maintenance screen")
        observer.next_on(state_topic, 10, _state_is("maintenance"), since=marks["maintenance_on"])
        # sees only the retained state (an identity of its own: one would kick the other)
        late = Observer(alliance.lab, alliance.broker, "late-observer", state_topic)
        try:
            topic, payload, retained = late.messages.get(timeout=10)
            assert (topic, retained) == (state_topic, True)
            assert messages.parse(messages.KioskState, payload).state == "maintenance"
        finally:
            late.close()

        # maintenance off: back in service
        result = command("maintenance_off")
        assert result.ok is True and result.detail == {"maintenance": False}, result
        poll(lambda: kiosk.runtime.view.screen == "attract" and kiosk.runtime.view.online,
             10, "the attract screen, online, after maintenance_off")
        observer.next_on(state_topic, 10, _state_is("online"), since=marks["maintenance_off"])
    finally:
        observer.close()


@pytest.mark.slow
def test_no_card_number_or_name_in_logs_or_topics(make_alliance, tmp_path: Path) -> None:
    world = make_alliance()  # a ledger of its own: this reader's loans affect no other test
    kiosk_id = f"e2e-privacy-{uuid.uuid4().hex[:6]}"
    log_file = tmp_path / "kiosk.jsonl"
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[logging]\nlevel = "DEBUG"\njson_lines = true\nfile = "{log_file}"\n', encoding="utf-8"
    )
    script = tmp_path / "privacy_borrow.txt"
    script.write_text(
        "# a reader borrows two books and finishes; nothing may leak the card or the name\n"
        f"tap {READER_CARD}\nexpect screen pin\npin {READER_PIN}\nexpect screen borrow\n"
        f"scan {BOOKS[0]}\nexpect loan {BOOKS[0]}\nscan {BOOKS[1]}\nexpect loan {BOOKS[1]}\n"
        "press finish\nexpect screen summary\nremove\nexpect screen attract\n"
        f"expect committed {BOOKS[0]}\nexpect committed {BOOKS[1]}\n",
        encoding="utf-8",
    )
    observer = Observer(world.lab, world.broker, "observer", "alliance/v1/#")
    try:
        code, output = world.run_script(script, "--config", str(config), kiosk_id=kiosk_id)
        assert code == 0, output
        seen = observer.topics()
    finally:
        observer.close()

    # the observer saw the session's traffic, and no topic names the card
    kiosk_topics = {t for t in seen if t.startswith(f"alliance/v1/kiosk/{kiosk_id}/")}
    for leaf in ("state", "req", "resp", "txn", "ack"):
        assert topics.topic(kiosk_id, leaf) in kiosk_topics, sorted(kiosk_topics)
    assert not [t for t in seen if READER_CARD in t or READER_CARD[-8:] in t]

    # the log is JSON lines, saw the session, and never holds the card or the name whole
    text = log_file.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    messages = {r.get("msg") or r.get("message") or r.get("event") for r in records}
    assert records and any("card.tap" in str(r) for r in records), sorted(map(str, messages))[:20]
    assert any("session.start" in str(r) for r in records)
    assert READER_CARD not in text
    assert READER_NAME not in text
    assert READER_PIN not in text
    assert f"{READER_CARD[:4]}*{READER_CARD[-3:]}" in text  # masked, as the design says
    # the runner's own output masks the card too
    assert READER_CARD not in output
