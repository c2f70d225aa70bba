"""Issue 11 item 3, end to end with real parts: bundles built here (`release --target
native`) update a staging install in which a real kiosk (simulated hardware, headless,
a real Mosquitto) runs from `current` and writes its own health file; a release that
never comes up is rolled back; a hub worker records what the kiosk reports and
`python -m hub status` shows it; the hub orders an update with a signed command, and
the kiosk starts the real updater (`python -m updater --order`) as a process
of its own, while unsigned and forged orders are ignored.

Only systemd is played by the test (`StagedKiosk.restart`, for `systemctl restart`)."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, signing, topics
from hub.__main__ import main as hub_main
from hub.config import HubConfig
from hub.lab.broker_process import MosquittoProcess
from hub.pki.pki import write_pin_pepper, write_signing_key
from hub.pki.pki_files import PkiPaths
from hub.rules.registry import load_registry
from hub.worker.service import HubService
from tests.update.conftest import BROKEN, GOOD, StagedKiosk, make_staged_kiosk, write_trust
from updater.release import Bundle
from updater.results import UpdateResult
from updater.switch import update

# Builds two bundles and installs two slots: minutes on a loaded machine, ~1 min idle.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

KIOSK = "upd-kiosk-1"
HEALTHY_WITHIN_S = (
    180.0  # generous: the build machine may be loaded; a healthy kiosk ends the wait at once
)
BROKEN_DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    paths = PkiPaths(tmp_path_factory.mktemp("pki"))
    write_signing_key(paths)
    write_pin_pepper(paths)
    return paths


@pytest.fixture(scope="module")
def hub(
    plain_broker: MosquittoProcess, pki: PkiPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A hub worker recording the fleet; yields its TOML config (for `python -m hub`)."""
    tmp = tmp_path_factory.mktemp("hub")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    worker = f"upd-{secrets.token_hex(3)}"
    config = HubConfig(broker=plain_broker.url, db=db, worker=worker, signing_key=pki.hub_signing_key,
                       pin_pepper_file=pki.pin_pepper, session_expiry_s=0)  # fmt: skip
    service = HubService(plain_broker.url, db, load_registry(), worker, config=config).start()
    toml = tmp / "hub.toml"
    toml.write_text(
        f'[hub]\nbroker = "{plain_broker.url}"\ndb = "{db}"\nsigning_key = "{pki.hub_signing_key}"\n'
    )
    yield toml
    service.stop()


@pytest.fixture(scope="module")
def kiosk(
    tmp_path_factory: pytest.TempPathFactory, plain_broker: MosquittoProcess, pki: PkiPaths,
    staged_kiosk_factory: list[StagedKiosk],
) -> StagedKiosk:  # fmt: skip
    root = tmp_path_factory.mktemp("staging")
    config = (
        f'[kiosk]\nid = "{KIOSK}"\nlibrary_id = "capital"\n\n'
        f'[hub]\nbroker = "{plain_broker.url}"\nhub_public_key = "{pki.hub_signing_pub}"\ntelemetry_interval_s = 1\n'
    )
    kiosk = make_staged_kiosk(root, config, staged_kiosk_factory)
    write_trust(root, pki.hub_signing_pub, KIOSK)  # what the root updater checks orders with
    return kiosk


@pytest.fixture(scope="module")
def first_update(bundles: dict[str, Bundle], kiosk: StagedKiosk, hub: Path) -> UpdateResult:
    good = bundles[GOOD]
    return update(str(good.path), good.sha256, layout=kiosk.layout, restart=kiosk.restart,
                  deadline_s=HEALTHY_WITHIN_S, progress=print)  # fmt: skip


def _health(kiosk: StagedKiosk) -> dict[str, Any]:
    return json.loads(kiosk.layout.health_file.read_text())


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with_value = predicate()
        if with_value:
            return with_value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout} s")


def _status(hub_toml: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert hub_main(["--config", str(hub_toml), "status", *extra]) == 0
    return capsys.readouterr().out


def _fleet_row(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    rows = json.loads(_status(hub_toml, capsys, "--json"))["kiosks"]
    return next((r for r in rows if r["kiosk_id"] == KIOSK), {})


def test_a_bundle_built_here_installs_without_an_index_and_comes_up_healthy(
    first_update: UpdateResult, kiosk: StagedKiosk, bundles: dict[str, Bundle]
) -> None:
    assert first_update.result == "ok", first_update
    assert os.readlink(kiosk.layout.current) == f"releases/{GOOD}"
    assert kiosk.layout.last_healthy_version() == GOOD  # marked only after the healthy verdict
    slot = kiosk.layout.releases / GOOD
    manifest = json.loads((slot / "manifest.json").read_text())
    assert manifest["version"] == GOOD and manifest["target"] == "native"
    assert any(f["path"].startswith("wheels/alliance_kiosk-0.1.1-") for f in manifest["files"])
    assert not (slot / "wheels").exists()  # installed: the wheels are not kept on the SD card
    assert (slot / "bin/kiosk-launch").stat().st_mode & 0o111
    site = next((slot / "venv/lib").glob("python3*/site-packages"))
    assert (site / f"alliance_kiosk-{GOOD}.dist-info").is_dir()
    # The health file was written by the kiosk running from the new slot, not by the test.
    health = _health(kiosk)
    assert health["version"] == GOOD and health["pid"] == kiosk.process.pid  # type: ignore[union-attr]
    assert health["ready"] and health["link_online"] and health["selftest_ok"]
    assert json.loads(kiosk.layout.result_file.read_text())["result"] == "ok"


def test_a_release_that_never_comes_up_is_rolled_back_and_the_hub_sees_it(
    first_update: UpdateResult, kiosk: StagedKiosk, bundles: dict[str, Bundle], hub: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert first_update.result == "ok"
    broken = bundles[BROKEN]
    result = update(str(broken.path), broken.sha256, layout=kiosk.layout, restart=kiosk.restart,
                    deadline_s=BROKEN_DEADLINE_S, progress=print)  # fmt: skip
    assert result.result == "rolled_back", result
    assert f"{BROKEN} no health report from it within" in result.reason
    assert os.readlink(kiosk.layout.current) == f"releases/{GOOD}"
    assert kiosk.layout.last_healthy_version() == GOOD and not kiosk.layout.pending_file.exists()
    assert kiosk.starts[-2:] == [BROKEN, GOOD]
    recorded = json.loads(kiosk.layout.result_file.read_text())
    assert (recorded["result"], recorded["version"], recorded["previous"]) == (
        "rolled_back",
        BROKEN,
        GOOD,
    )
    assert "this release is broken" in kiosk.log.read_text()
    # The old release is back, healthy, and reports the rollback to the hub.
    pid = kiosk.process.pid  # type: ignore[union-attr]
    _wait(lambda: (h := _health(kiosk))["pid"] == pid and h["link_online"] and h["selftest_ok"], 60,
          "the rolled-back kiosk healthy")  # fmt: skip
    row = _wait(
        lambda: (r := _fleet_row(hub, capsys)).get("last_update", {}) and r["last_update"]["result"] == "rolled_back" and r,
        30, "hub status showing the rollback",
    )  # fmt: skip
    assert row["last_update"]["version"] == BROKEN and row["firmware"]
    text = _status(hub, capsys)
    line = next(ln for ln in text.splitlines() if ln.startswith(KIOSK) and "rolled_back" in ln)
    assert f"rolled_back {BROKEN}" in line and "no health report" in line


class _Client:
    """A plain client on the broker: the hub's CLI is not it (that one signs)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.results: list[messages.CommandResult] = []
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{secrets.token_hex(3)}", protocol=mqtt.MQTTv5
        )
        self.c.on_message = lambda _c, _u, m: self.results.append(
            messages.parse(messages.CommandResult, m.payload)
        )
        self.c.connect(host, int(port))
        self.c.loop_start()
        self.c.subscribe(topics.topic(KIOSK, "cmd/result"), qos=1)
        time.sleep(0.5)

    def publish(self, cmd: messages.Command, user: list[tuple[str, str]] | None = None) -> None:
        props = Properties(PacketTypes.PUBLISH)
        for pair in user or []:
            props.UserProperty = pair
        self.c.publish(
            topics.topic(KIOSK, "cmd"), messages.encode(cmd), qos=1, properties=props
        ).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _running_and_online(kiosk: StagedKiosk) -> None:
    pid = kiosk.process.pid  # type: ignore[union-attr]
    _wait(lambda: (h := _health(kiosk))["pid"] == pid and h["link_online"], 90, "the kiosk online")


def test_unsigned_and_forged_update_commands_are_ignored(
    first_update: UpdateResult,
    kiosk: StagedKiosk,
    plain_broker: MosquittoProcess,
    bundles: dict[str, Bundle],
) -> None:
    _running_and_online(kiosk)
    good = bundles[GOOD]
    client = _Client(plain_broker.url)
    try:
        unsigned = messages.Command(
            cmd="update", cmd_id="evil-unsigned", bundle_url=good.path.as_uri(), sha256=good.sha256
        )
        client.publish(unsigned)
        forged = messages.Command(
            cmd="update", cmd_id="evil-forged", bundle_url=good.path.as_uri(), sha256=good.sha256
        )
        payload = messages.encode(forged)
        other_key = signing.Ed25519PrivateKey.generate()
        sig = signing.sign(
            other_key, KIOSK, "cmd", forged.cmd_id, payload, exp=int(time.time()) + 600
        )
        client.publish(forged, sig.user_properties())
        kiosk.wait_for("ignored a cmd not signed by the hub for this kiosk: bad-signature", 30)
        time.sleep(1.0)
    finally:
        client.close()
    log = kiosk.log.read_text()
    assert "ignored a cmd not signed by the hub for this kiosk: unsigned" in log
    assert client.results == []  # not even refused: never acted on
    assert not (kiosk.layout.data / "update-order.json").exists()
    assert "evil" not in kiosk.layout.result_file.read_text()


def test_the_hub_orders_an_update_with_a_signed_command_and_the_kiosk_starts_the_updater(
    first_update: UpdateResult, kiosk: StagedKiosk, bundles: dict[str, Bundle], hub: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The release ordered is the one running: the real updater, started by the kiosk
    with the order's URL and sha256, fetches the bundle, checks it and refuses to
    overwrite the running slot; its result, with the command's id, reaches the hub."""
    _running_and_online(kiosk)
    good = bundles[GOOD]
    capsys.readouterr()
    argv = ["--config", str(hub), "command", KIOSK, "update", "--bundle-url", good.path.as_uri(),
            "--sha256", good.sha256, "--timeout", "30", "--json"]  # fmt: skip
    assert hub_main(argv) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] and answer["detail"]["update"] == "started", answer
    cmd_id = answer["cmd_id"]
    recorded = _wait(
        lambda: (r := json.loads(kiosk.layout.result_file.read_text())).get("cmd_id") == cmd_id and r,
        120, "the updater's result",
    )  # fmt: skip
    assert recorded["result"] == "refused" and "already-running" in recorded["reason"], recorded
    assert not (kiosk.layout.data / "update-order.json").exists()  # the updater took it
    assert "checking the bundle's sha256" in (kiosk.layout.data / "update.log").read_text()
    assert os.readlink(kiosk.layout.current) == f"releases/{GOOD}"
    row = _wait(lambda: (r := _fleet_row(hub, capsys)).get("last_update", {}).get("cmd_id") == cmd_id and r,
                30, "hub status showing the ordered update")  # fmt: skip
    assert row["last_update"]["result"] == "refused"
