"""Issue 11 item 3 and issue 21 item 4, end to end with real parts, on the lab's secure
alliance (TLS, client certificates, the alliance's roles: `hub.lab.lab`): a staging root
laid out by scripts/install-pi.sh runs a real kiosk (simulated hardware, headless) from
`current` with its own certificate in /etc/alliance-kiosk, as a technician installs it;
it writes its own health file. The hub orders an update with a signed command over TLS;
the kiosk starts the real updater (`python -m updater --order`) as a process of its own,
which installs a bundle built here (`release --target native`), switches and has the
kiosk restarted; the new release reconnects over TLS with the kiosk's identity and a
return it takes reaches the hub's ledger. A release that never comes up is rolled back,
and the old one reconnects and works too. Unsigned and forged orders are ignored, and the
broker refuses update orders and results to a stranger and to another kiosk.

Only systemd is played by the test (`StagedKiosk.restart`, for `systemctl restart`:
under a staging root the updater prints that command instead of running it)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, signing, topics
from contract.broker_url import parse_broker_url
from hub.__main__ import main as hub_main
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.rules.registry import load_registry
from hub.worker.service import HubService
from tests.secure_clients import hub_settings, secure_client
from tests.update.conftest import BROKEN, GOOD, StagedKiosk, install_tls_kiosk
from updater.release import Bundle
from updater.switch import update

# Builds two bundles and installs two slots: minutes on a loaded machine, ~1 min idle.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

KIOSK = "upd-kiosk-1"
INSTALLED = "0.1.0"  # the checkout's version: what install-pi.sh lays out
HEALTHY_WITHIN_S = 180.0  # the updater's default, as a hub-ordered update gets it
BROKEN_DEADLINE_S = 15.0
# Books dropped into the chute at the Capital Library (scenarios/return_other_members_books.txt):
# one return by the kiosk after each restart.
RETURNS = ("30102000000024", "30101000000026", "30002000000026")
RESTART_SAID = "(staging) would run: systemctl restart"


@pytest.fixture(scope="module")
def hub(broker: TlsMosquittoProcess, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A hub worker on the lab's TLS broker, recording the fleet and the ledger; yields
    the operator's TOML config (for `python -m hub status|command`, as the `hub` tool
    identity, signing with the lab hub's key)."""
    tmp = tmp_path_factory.mktemp("hub")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    worker = "upd-1"
    config = hub_settings(lab, worker, session_expiry_s=0)
    service = HubService(broker.url, db, load_registry(), worker, config=config).start()
    toml = tmp / "hub.toml"
    shutil.copyfile(lab.operator_config(broker.url, db), toml)
    yield toml
    service.stop()


@pytest.fixture(scope="module")
def kiosk(
    tmp_path_factory: pytest.TempPathFactory, broker: TlsMosquittoProcess, lab: Lab,
    staged_kiosk_factory: list[StagedKiosk], hub: Path,
) -> StagedKiosk:  # fmt: skip
    """The installed release (0.1.0) running, online over TLS as kiosk KIOSK."""
    kiosk = install_tls_kiosk(tmp_path_factory.mktemp("staging"), lab, broker.url, KIOSK, staged_kiosk_factory)
    kiosk.restart()
    _running_and_online(kiosk)
    return kiosk


def _hub_cli(hub_toml: Path, *argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert hub_main(["--config", str(hub_toml), *argv]) == 0
    return out.getvalue()


def _order_update(hub_toml: Path, bundle: Bundle) -> str:
    """`python -m hub command KIOSK update ...`: the hub's signed order; its cmd_id."""
    answer = json.loads(_hub_cli(hub_toml, "command", KIOSK, "update", "--bundle-url", bundle.path.as_uri(),
                                 "--sha256", bundle.sha256, "--timeout", "30", "--json"))  # fmt: skip
    assert answer["ok"] and answer["detail"]["update"] == "started", answer
    return str(answer["cmd_id"])


def _play_systemd_until_done(kiosk: StagedKiosk, cmd_id: str, timeout: float) -> dict[str, Any]:
    """Restart the kiosk each time the kiosk-started updater asks for it, until that
    updater's result for `cmd_id` is written; the result."""
    update_log = kiosk.layout.data / "update.log"
    asked = update_log.read_text().count(RESTART_SAID) if update_log.exists() else 0
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        said = update_log.read_text() if update_log.exists() else ""
        if said.count(RESTART_SAID) > asked:
            asked += 1
            kiosk.restart()
            continue
        with contextlib.suppress(OSError, ValueError):
            result = json.loads(kiosk.layout.result_file.read_text())
            if result.get("cmd_id") == cmd_id:
                return result
        time.sleep(0.3)
    raise AssertionError(f"no result for {cmd_id} within {timeout} s:\n{said[-3000:]}")


@pytest.fixture(scope="module")
def first_update(bundles: dict[str, Bundle], kiosk: StagedKiosk, hub: Path) -> dict[str, Any]:
    """The hub orders GOOD; the kiosk's updater installs it and has the kiosk restarted."""
    cmd_id = _order_update(hub, bundles[GOOD])
    return _play_systemd_until_done(kiosk, cmd_id, 600) | {"ordered": cmd_id}


def _ledger_rows(hub_toml: Path) -> int:
    with Ledger.open(tomllib.loads(hub_toml.read_text())["hub"]["db"]) as ledger:
        row = ledger.db.query_one("SELECT COUNT(*) FROM txns WHERE kiosk_id = ?", (KIOSK,))
        return int(row[0])


def _a_return_reaches_the_ledger(kiosk: StagedKiosk, hub_toml: Path, barcode: str) -> None:
    """The kiosk takes a book in its chute; the return is in the hub's ledger, which it
    reaches only through the broker, as this kiosk's certificate lets it publish."""
    before = _ledger_rows(hub_toml)
    kiosk.step(f"drop {barcode}")
    _wait(lambda: _ledger_rows(hub_toml) == before + 1, 30, f"the return of {barcode} in the hub's ledger")


def _health(kiosk: StagedKiosk) -> dict[str, Any]:
    """The kiosk's health file; {} before its first one."""
    try:
        return json.loads(kiosk.layout.health_file.read_text())
    except FileNotFoundError:
        return {}


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with_value = predicate()
        if with_value:
            return with_value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout} s")


def _status(hub_toml: Path, *extra: str) -> str:
    return _hub_cli(hub_toml, "status", *extra)


def _fleet_row(hub_toml: Path) -> dict[str, Any]:
    rows = json.loads(_status(hub_toml, "--json"))["kiosks"]
    return next((r for r in rows if r["kiosk_id"] == KIOSK), {})


def test_the_hub_delivers_an_update_over_tls_and_the_kiosk_comes_back_on_its_own_certificate(
    first_update: dict[str, Any], kiosk: StagedKiosk, hub: Path,
) -> None:  # fmt: skip
    assert first_update["result"] == "ok", first_update
    assert (first_update["version"], first_update["previous"]) == (GOOD, INSTALLED)
    assert first_update["cmd_id"] == first_update["ordered"]  # the hub's order, as signed
    assert kiosk.starts == [INSTALLED, GOOD]  # restarted once, on the new release
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
    # The health file was written by the kiosk running from the new slot, online over TLS.
    health = _health(kiosk)
    assert health["version"] == GOOD and health["pid"] == kiosk.process.pid  # type: ignore[union-attr]
    assert health["ready"] and health["link_online"] and health["selftest_ok"]
    row = _wait(lambda: ((r := _fleet_row(hub)).get("last_update") or {}).get("cmd_id") == first_update["ordered"] and r,
                30, "hub status showing the delivered update")  # fmt: skip
    assert row["last_update"]["result"] == "ok" and row["last_update"]["version"] == GOOD


def test_the_updated_kiosk_takes_a_return_that_reaches_the_hubs_ledger(
    first_update: dict[str, Any], kiosk: StagedKiosk, hub: Path
) -> None:
    assert first_update["result"] == "ok" and kiosk.starts[-1] == GOOD
    _a_return_reaches_the_ledger(kiosk, hub, RETURNS[0])


def test_a_release_that_never_comes_up_is_rolled_back_and_the_old_one_is_back_on_tls(
    first_update: dict[str, Any], kiosk: StagedKiosk, bundles: dict[str, Bundle], hub: Path,
) -> None:  # fmt: skip
    assert first_update["result"] == "ok"
    broken = bundles[BROKEN]
    result = update(str(broken.path), broken.sha256, layout=kiosk.layout, restart=kiosk.restart,
                    deadline_s=BROKEN_DEADLINE_S, progress=print)  # fmt: skip
    assert result.result == "rolled_back", result
    assert f"{BROKEN} no health report from it within" in result.reason
    assert os.readlink(kiosk.layout.current) == f"releases/{GOOD}"
    assert kiosk.layout.last_healthy_version() == GOOD and not kiosk.layout.pending_file.exists()
    assert kiosk.starts[-2:] == [BROKEN, GOOD]
    recorded = json.loads(kiosk.layout.result_file.read_text())
    assert (recorded["result"], recorded["version"], recorded["previous"]) == ("rolled_back", BROKEN, GOOD)
    assert "this release is broken" in kiosk.log.read_text()
    # The old release is back, online over TLS, reports the rollback to the hub and works.
    pid = kiosk.process.pid  # type: ignore[union-attr]
    _wait(lambda: (h := _health(kiosk)).get("pid") == pid and h["version"] == GOOD and h["link_online"]
          and h["selftest_ok"], 60, "the rolled-back kiosk healthy and online")  # fmt: skip
    row = _wait(
        lambda: ((r := _fleet_row(hub)).get("last_update") or {}).get("result") == "rolled_back" and r,
        30, "hub status showing the rollback",
    )  # fmt: skip
    assert row["last_update"]["version"] == BROKEN and row["firmware"]
    text = _status(hub)
    line = next(ln for ln in text.splitlines() if ln.startswith(KIOSK) and "rolled_back" in ln)
    assert f"rolled_back {BROKEN}" in line and "no health report" in line
    _a_return_reaches_the_ledger(kiosk, hub, RETURNS[1])


class _Client:
    """A lab identity on the TLS broker (tests/secure_clients.py), publishing on KIOSK's
    `cmd` and listening on its `cmd/result`, with what the broker answered each publish."""

    def __init__(self, lab: Lab, broker: TlsMosquittoProcess, name: str) -> None:
        address = parse_broker_url(broker.url)
        self.results: list[messages.CommandResult] = []
        self.pubacks: dict[int, int] = {}
        self.granted: list[int] = []
        self.c = secure_client(lab, broker, name)
        self.c.on_message = lambda _c, _u, m: self.results.append(messages.parse(messages.CommandResult, m.payload))
        self.c.on_publish = lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, reason.value)
        self.c.on_subscribe = lambda _c, _u, _mid, reasons, _p: self.granted.extend(r.value for r in reasons)
        self.c.connect(address.host, address.port)
        self.c.loop_start()

    def subscribe(self, name: str) -> int:
        """The broker's SUBACK reason for `name` (0x87: not authorised)."""
        self.c.subscribe(name, qos=1)
        return _wait(lambda: self.granted and self.granted.pop(0) + 1, 5, f"the SUBACK for {name}") - 1

    def publish(self, cmd: messages.Command, user: list[tuple[str, str]] | None = None,
                leaf: str = "cmd") -> int:  # fmt: skip
        """The broker's PUBACK reason (0: taken, 0x87: not authorised)."""
        props = Properties(PacketTypes.PUBLISH)
        for pair in user or []:
            props.UserProperty = pair
        info = self.c.publish(topics.topic(KIOSK, leaf), messages.encode(cmd), qos=1, properties=props)
        info.wait_for_publish(5)
        return _wait(lambda: info.mid in self.pubacks and self.pubacks[info.mid] + 1, 5, "the PUBACK") - 1

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _running_and_online(kiosk: StagedKiosk) -> None:
    pid = kiosk.process.pid  # type: ignore[union-attr]
    _wait(lambda: (h := _health(kiosk)).get("pid") == pid and h["link_online"], 90, "the kiosk online")


def test_unsigned_and_forged_update_commands_are_ignored(
    first_update: dict[str, Any], kiosk: StagedKiosk, broker: TlsMosquittoProcess, lab: Lab,
    bundles: dict[str, Bundle],
) -> None:  # fmt: skip
    """From a hub identity the broker lets write commands (a hub worker's certificate,
    without the hub's signing key): taken by the broker, never acted on by the kiosk."""
    _running_and_online(kiosk)
    good = bundles[GOOD]
    client = _Client(lab, broker, "hub-upd-no-signing-key")
    try:
        assert client.subscribe(topics.topic(KIOSK, "cmd/result")) == 1  # granted, QoS 1
        unsigned = messages.Command(
            cmd="update", cmd_id="evil-unsigned", bundle_url=good.path.as_uri(), sha256=good.sha256
        )
        assert client.publish(unsigned) == 0
        forged = messages.Command(
            cmd="update", cmd_id="evil-forged", bundle_url=good.path.as_uri(), sha256=good.sha256
        )
        payload = messages.encode(forged)
        other_key = signing.Ed25519PrivateKey.generate()
        sig = signing.sign(other_key, KIOSK, "cmd", forged.cmd_id, payload, exp=int(time.time()) + 600)
        assert client.publish(forged, sig.user_properties()) == 0
        kiosk.wait_for("ignored a cmd not signed by the hub for this kiosk: bad-signature", 30)
    finally:
        client.close()
    log = kiosk.log.read_text()
    assert "ignored a cmd not signed by the hub for this kiosk: unsigned" in log
    assert client.results == []  # not even refused: never acted on
    assert not (kiosk.layout.data / "update-order.json").exists()
    assert "evil" not in kiosk.layout.result_file.read_text()


def test_the_hub_orders_an_update_of_the_running_release_and_the_updater_refuses_it(
    first_update: dict[str, Any], kiosk: StagedKiosk, bundles: dict[str, Bundle], hub: Path,
) -> None:  # fmt: skip
    """The release ordered is the one running: the real updater, started by the kiosk
    with the order's URL and sha256, fetches the bundle, checks it and refuses to
    overwrite the running slot; its result, with the command's id, reaches the hub."""
    _running_and_online(kiosk)
    cmd_id = _order_update(hub, bundles[GOOD])
    recorded = _wait(
        lambda: (r := json.loads(kiosk.layout.result_file.read_text())).get("cmd_id") == cmd_id and r,
        120, "the updater's result",
    )  # fmt: skip
    assert recorded["result"] == "refused" and "already-running" in recorded["reason"], recorded
    assert not (kiosk.layout.data / "update-order.json").exists()  # the updater took it
    assert "checking the bundle's sha256" in (kiosk.layout.data / "update.log").read_text()
    assert os.readlink(kiosk.layout.current) == f"releases/{GOOD}"
    row = _wait(lambda: ((r := _fleet_row(hub)).get("last_update") or {}).get("cmd_id") == cmd_id and r,
                30, "hub status showing the ordered update")  # fmt: skip
    assert row["last_update"]["result"] == "refused"
