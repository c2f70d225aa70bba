"""The alliance broker has room for a city's fleet: one open file per connection, and
systemd's default soft limit of 1024 would refuse the fleet's 1,015th kiosk
(hub/pki/broker_config.py). The unit `broker-config` writes raises it, and the lab's
broker runs with the same limit, so what the tests and bench/fleet.py see is what is
deployed."""

from __future__ import annotations

import os
import re
import resource
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.lab.broker_process import MosquittoProcess, find_mosquitto
from hub.lab.lab import Lab
from hub.pki.broker_config import BROKER_OPEN_FILES, write_broker_config

FLEET = 1000


def _soft_open_files(pid: int) -> int:
    limits = Path(f"/proc/{pid}/limits").read_text()
    return int(re.search(r"Max open files\s+(\d+)", limits).group(1))  # type: ignore[union-attr]


def test_the_broker_unit_gives_room_for_a_fleet_of_1000(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab")
    with tempfile.TemporaryDirectory(prefix="broker-config-") as name:  # one the mosquitto user reaches
        os.chmod(name, 0o755)
        files = write_broker_config(Path(name) / "broker", lab.pki.root, port=8883)
        unit = files.unit.read_text()
    assert f"LimitNOFILE={BROKER_OPEN_FILES}" in unit.splitlines()
    assert BROKER_OPEN_FILES >= 4 * FLEET  # every kiosk, the workers, tools, and room to grow
    assert f"ExecStart={find_mosquitto()} -c {files.conf}" in unit.splitlines()
    assert "Type=notify" in unit.splitlines()


def test_the_lab_broker_runs_with_the_deployed_open_files_limit(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab")
    broker = lab.broker().start()
    try:
        assert broker.pid is not None
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        expected = BROKER_OPEN_FILES if hard == resource.RLIM_INFINITY else min(BROKER_OPEN_FILES, hard)
        assert _soft_open_files(broker.pid) == expected
    finally:
        lab.close()


@pytest.mark.slow
def test_a_broker_short_of_open_files_refuses_the_kiosks_past_its_limit() -> None:
    """Why the limit matters, at small scale: a broker allowed 48 open files serves
    fewer than 48 clients; the rest are refused at accept (each retries for ever)."""
    connected: set[str] = set()
    clients = []
    with MosquittoProcess(open_files=48, persistence=False) as broker:
        for i in range(60):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"k{i}", protocol=mqtt.MQTTv5)
            client.on_connect = lambda _c, _u, _f, rc, _p, name=f"k{i}": connected.add(name) if not rc.is_failure else None
            client.on_disconnect = lambda _c, _u, _f, _rc, _p, name=f"k{i}": connected.discard(name)
            client.connect_async("127.0.0.1", broker.port)
            client.loop_start()
            clients.append(client)
        time.sleep(4)  # every client has tried a few times
        up = len(connected)
        for client in clients:
            client.disconnect()
            client.loop_stop()
    assert 30 <= up < 48, up
