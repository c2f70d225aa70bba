"""The `update` command in the contract and on a kiosk that cannot check the hub's
signature (firmware.hub_link.fleet): the real link on the lab's TLS broker, with its own
certificate (tests/conftest.py `lab`, `broker`)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

import pytest

from contract import messages, topics
from contract.broker_url import parse_broker_url
from firmware.core.events import CommandReceived, LinkChanged
from firmware.hub_link import HubLink
from firmware.update_order import ROOT_ENV, last_update
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from tests.firmware.test_hub_link import Events
from tests.secure_clients import kiosk_tls, secure_client

SHA = "ab" * 32


@pytest.mark.parametrize(
    "fields",
    [
        {"cmd": "update", "cmd_id": "u1"},  # no bundle, no sha256
        {"cmd": "update", "cmd_id": "u1", "bundle_url": "https://hub/b.tar.gz"},
        {"cmd": "update", "cmd_id": "u1", "bundle_url": "ftp://hub/b.tar.gz", "sha256": SHA},
        {
            "cmd": "update",
            "cmd_id": "u1",
            "bundle_url": "https://hub/b.tar.gz",
            "sha256": "AB" * 32,
        },
        {"cmd": "update", "cmd_id": "u1", "bundle_url": "https://hub/b c.tar.gz", "sha256": SHA},
        {"cmd": "selftest", "cmd_id": "u1", "sha256": SHA},  # update fields on another command
    ],
)
def test_an_update_command_without_a_proper_bundle_url_and_sha256_is_a_protocol_error(
    fields: dict,
) -> None:
    with pytest.raises(messages.ProtocolError):
        messages.parse(messages.Command, json.dumps(fields).encode())


def test_an_update_command_round_trips() -> None:
    cmd = messages.Command(
        cmd="update", cmd_id="u1", bundle_url="https://hub.example/k-0.2.0.tar.gz", sha256=SHA
    )
    assert messages.parse(messages.Command, messages.encode(cmd)) == cmd


def test_the_last_update_is_read_bounded_for_telemetry(tmp_path: Path) -> None:
    assert last_update(tmp_path) is None and last_update(None) is None
    (tmp_path / "last-update.json").write_text(json.dumps({
        "version": "0.2.0", "result": "rolled_back", "reason": "x" * 5000,
        "at": "2026-12-01T06:00:00+00:00", "previous": "0.1.0", "cmd_id": "c1", "took_s": 12.5,
    }))  # fmt: skip
    report = last_update(tmp_path)
    assert report is not None and report.result == "rolled_back" and len(report.reason) == 300
    telemetry = messages.Telemetry(at=report.at, journal_pending=0, last_update=report)
    assert len(messages.encode(telemetry)) < 1024
    (tmp_path / "last-update.json").write_text("{not json")
    assert last_update(tmp_path) is None


def test_a_kiosk_without_the_hub_key_refuses_update_commands(
    broker: TlsMosquittoProcess, lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the hub's public key any hub identity the broker admits (a worker's
    certificate, without the signing key) could order an update, i.e. install code on
    the kiosk: the kiosk, on its own certificate over TLS, answers not-ok and orders
    nothing."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))  # a kiosk that did order: a staging root's updater
    kiosk_id = f"nokey-{secrets.token_hex(3)}"
    events = Events()
    link = HubLink(
        broker.url,
        kiosk_id,
        "capital",
        events.post,
        firmware_version="t",
        tls=kiosk_tls(lab, kiosk_id),
        fetch_blocklist=False,
    )
    results: list[messages.CommandResult] = []
    subscribed = threading.Event()
    address = parse_broker_url(broker.url)
    hub = secure_client(lab, broker, "hub-upd-nokey")
    hub.on_message = lambda _c, _u, m: results.append(
        messages.parse(messages.CommandResult, m.payload)
    )
    hub.on_subscribe = lambda *_: subscribed.set()
    hub.connect(address.host, address.port)
    hub.loop_start()
    hub.subscribe(topics.topic(kiosk_id, "cmd/result"), qos=1)
    try:
        assert subscribed.wait(5)
        with link:
            events.wait(lambda e: isinstance(e, LinkChanged) and e.online, timeout=10)
            cmd = messages.Command(
                cmd="update", cmd_id="u-nokey", bundle_url="https://x.example/b.tar.gz", sha256=SHA
            )
            hub.publish(
                topics.topic(kiosk_id, "cmd"), messages.encode(cmd), qos=1
            ).wait_for_publish(5)
            end = time.monotonic() + 10
            while not results and time.monotonic() < end:
                time.sleep(0.05)
    finally:
        hub.loop_stop()
        hub.disconnect()
    assert [(r.cmd_id, r.ok, r.detail.get("error")) for r in results] == [
        ("u-nokey", False, "updates-need-signed-commands")
    ]
    assert not (tmp_path / "update-order.json").exists()
    assert not any(isinstance(e, CommandReceived) for e in events.drain())  # never reaches the core
