"""End-to-end fixtures: a private Mosquitto, a real hub worker process, and the kiosk
simulator driven by scenario scripts (`python -m kiosk_tools --sim --headless --script`).

`alliance` (one per session) is shared by every test that leaves broker and hub alone;
`make_alliance` gives a test its own broker and hub, to stop, freeze and restart.
Nothing here sleeps to synchronise: the hub is ready when it says READY on its pipe
(hub/worker/worker_process.py, after its subscriptions were granted), and conditions are polled with a deadline.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from contract import signing
from hub.lab.broker_process import BrokerUnavailable, TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.ledger.ledger import Ledger
from hub.pki.broker_admin import BrokerAdmin
from hub.pki.pki import hub_admin_identity
from hub.worker.signer import HubSigner
from hub.worker.worker_process import WorkerNotReady, WorkerProcess, launch_hub_worker, worker_args
from kiosk_tools.kiosk_child import KioskChild
from kiosk_tools.ledger_probe import probe_id
from tests.secure_clients import secure_client

REPO = Path(__file__).resolve().parents[2]
DEFAULT_LIBRARY = "capital"  # firmware/kiosk.toml's library_id
SCENARIOS = REPO / "scenarios"
# A scenario that needs another member than the default says so in its header.
LIBRARY_HEADER = re.compile(r"^#.*RUN WITH:.*--library\s+([a-z0-9_-]+)", re.IGNORECASE)
# ... and one that needs a config of its own (a path relative to the repository root).
# The hub's record of book vans in these tests: a scenario named van_* runs as a kiosk
# id `e2e-van_...`, which the hub lists ([hub] van_kiosks); no other is a van to it.
VAN_KIOSKS = "e2e-van_*"
CONFIG_HEADER = re.compile(r"^#.*RUN WITH:.*--config\s+(\S+)", re.IGNORECASE)


def wait_until(
    check: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.05
) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def ledger_counts(db_url: str, txn_ids: list[str]) -> dict[str, int]:
    """How many times the hub's ledger at `db_url` holds each txn (exactly once, or not)."""
    ledger = Ledger.open(db_url)
    try:
        return ledger.ledger_counts(txn_ids)
    finally:
        ledger.close()


WIRETAP_ROLE = "test-wiretap"


def wiretap(lab: Lab, broker: TlsMosquittoProcess, name: str) -> mqtt.Client:
    """A paho MQTT 5 client (not connected) as hub identity `hub-NAME`, which `broker` (a
    running one) also lets read every alliance topic: the test's view of a kiosk's whole
    conversation, its `ack`, `resp` and `cmd` included, which the alliance's roles let no
    one but the kiosk read. The extra role is granted through the broker's own admin
    interface (`hub.pki.broker_admin`), as an operator would, and lives as long as the
    broker runs; `broker.start()` again writes the roles afresh: call this again."""
    identity = lab.hub_worker(name)
    acls = [
        {"acltype": acltype, "topic": "alliance/v1/#", "priority": 0, "allow": True}
        for acltype in ("subscribePattern", "publishClientReceive")
    ]
    with BrokerAdmin(broker.url, hub_admin_identity(lab.pki.root)) as admin:
        admin.run(
            [{"command": "createRole", "rolename": WIRETAP_ROLE}]
            + [{"command": "addRoleACL", "rolename": WIRETAP_ROLE, **acl} for acl in acls]
        )
        admin.run(
            [{"command": "addClientRole", "username": identity.name, "rolename": WIRETAP_ROLE}]
        )
    return secure_client(lab, broker, identity.name)


def hub_signer(lab: Lab) -> HubSigner:
    """Signs what a test sends a kiosk as the hub does (`[hub] signing_key` of the lab)."""
    return HubSigner(signing.load_private_key(lab.pki.hub_signing_key), dict(signing.DEFAULT_TTL_S))


class HubProcess:
    """`python -m hub --broker URL --db sqlite:///PATH [--worker NAME]` as a child
    process (hub/worker/worker_process.py: ready when it says READY on its pipe, once its
    subscriptions were granted). Several may share a ledger and a broker, each under its
    own worker name."""

    def __init__(
        self,
        broker_url: str,
        db_path: Path,
        log_path: Path,
        worker: str | None = None,
        config: Path | None = None,
        verbose: bool = False,
    ) -> None:
        self.broker_url = broker_url
        self.config = config
        self.worker = worker
        self.verbose = verbose  # `--verbose`: the worker logs every request
        self.db_path = db_path
        self.db_url = f"sqlite:///{db_path}"
        self.log_path = log_path
        self.child: WorkerProcess | None = None

    def log_text(self) -> str:
        """Everything the worker logged so far (its stderr, appended to `log_path`)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def proc(self) -> subprocess.Popen[str] | None:
        return self.child.proc if self.child is not None else None

    @property
    def lines(self) -> list[str]:
        return self.child.lines if self.child is not None else []

    def start(self, timeout_s: float = 60.0) -> HubProcess:
        self.launch()
        self.wait_ready(timeout_s)
        return self

    def launch(self) -> None:
        """Start the process without waiting for it (`wait_ready` waits): several workers
        start side by side."""
        args = worker_args(self.broker_url, self.db_url, self.worker, self.config)
        if self.verbose:
            args.append("--verbose")
        self.child = launch_hub_worker(args, log_path=self.log_path, cwd=REPO)

    def wait_ready(self, timeout_s: float = 60.0) -> HubProcess:
        """Until the worker says READY (its subscriptions were granted)."""
        assert self.child is not None
        try:
            self.child.wait_ready(timeout_s)
        except WorkerNotReady as exc:
            self.child = None
            pytest.fail(f"the hub did not become ready: {exc}")
        return self

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    def freeze(self) -> None:
        """SIGSTOP: the hub holds its subscriptions but handles nothing."""
        assert self.child is not None
        self.child.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.child is not None
        self.child.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the broker, whatever it was handling is left unacked."""
        if self.child is None:
            return
        self.child.kill()
        self.child = None

    def stop(self) -> None:
        if self.child is None:
            return
        self.child.stop()
        self.child = None


@dataclass
class Alliance:
    """A private broker and a hub worker on a fresh ledger, plus a scenario runner; all on
    the lab's PKI (`hub.lab.lab`): TLS, the alliance's roles, signed answers, enrolled kiosks."""

    workdir: Path
    lab: Lab
    broker: TlsMosquittoProcess
    hub: HubProcess
    runs: list[Path] = field(default_factory=list)

    @property
    def broker_url(self) -> str:
        return self.broker.url

    @property
    def db_url(self) -> str:
        return self.hub.db_url

    def kiosk_args(self, kiosk_id: str, library_id: str) -> list[str]:
        """`--kiosk-id`, `--library` and the kiosk's enrolment bundle; its ledger probe's
        is enrolled beside it, where the scenario runner finds it (no flag)."""
        identity = self.lab.kiosk(kiosk_id, library_id).cert.parent
        self.lab.kiosk(probe_id(kiosk_id), library_id)
        return ["--kiosk-id", kiosk_id, "--library", library_id, "--identity", str(identity)]

    def run_script(
        self,
        script: Path | str,
        *extra: str,
        kiosk_id: str | None = None,
        timeout_s: float = 90.0,
        tmpdir: Path | None = None,
    ) -> tuple[int, str]:
        """Play a scenario through `python -m kiosk_tools --sim --headless --script` and
        return (exit code, stdout + stderr). `--library` comes from a `RUN WITH:` header
        line unless given in `extra`; every run gets its own kiosk id. With `tmpdir` the
        runner's work directory (the kiosk's journal and `kiosk.log`) is made there."""
        script = Path(script)
        argv = [
            sys.executable,
            "-m",
            "kiosk_tools",
            "--sim",
            "--headless",
            "--script",
            str(script),
            "--broker",
            self.broker_url,
        ]
        extra = list(extra)
        library = DEFAULT_LIBRARY
        if "--library" in extra:
            at = extra.index("--library")
            library = extra[at + 1]
            del extra[at : at + 2]
        elif scenario_library_args(script):
            library = scenario_library_args(script)[1]
        argv += self.kiosk_args(kiosk_id or f"e2e-{script.stem[:24]}-{uuid.uuid4().hex[:6]}", library)
        if "--config" not in extra:
            argv += scenario_config_args(script)
        argv += list(extra)
        self.runs.append(script)
        try:
            done = subprocess.run(
                argv,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    # `ecard CARD` steps ask this hub for tokens (kiosk_tools/ecard_source.py)
                    "ALLIANCE_HUB_CONFIG": str(self.lab.operator_config(self.broker_url, self.db_url)),
                    **({"TMPDIR": str(tmpdir)} if tmpdir else {}),
                },
            )
        except subprocess.TimeoutExpired as exc:
            out = (
                (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            )
            pytest.fail(f"{script.name} did not finish within {timeout_s}s; output so far:\n{out}")
        return done.returncode, done.stdout + done.stderr

    def close(self) -> None:
        self.hub.stop()
        self.broker.close()


def scenario_library_args(script: Path) -> list[str]:
    """["--library", ID] when the script's header asks for a library, else []."""
    for line in script.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        match = LIBRARY_HEADER.match(line)
        if match:
            return ["--library", match.group(1)]
    return []


def scenario_config_args(script: Path) -> list[str]:
    """["--config", ABSOLUTE_PATH] when the script's header names a config, else []."""
    for line in script.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        match = CONFIG_HEADER.match(line)
        if match:
            path = Path(match.group(1))
            return ["--config", str(path if path.is_absolute() else REPO / path)]
    return []


def start_alliance(workdir: Path, lab: Lab, *, verbose: bool = False) -> Alliance:
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        broker = lab.broker().start()
    except BrokerUnavailable as exc:
        pytest.fail(f"end-to-end tests need Mosquitto: {exc}")
    hub = HubProcess(
        broker.url, workdir / "hub.sqlite", workdir / "hub.log", config=lab.hub_config("1", van_kiosks=[VAN_KIOSKS]),
        verbose=verbose,
    )
    try:
        hub.start()
    except BaseException:
        broker.close()
        raise
    return Alliance(workdir, lab, broker, hub)


@pytest.fixture(scope="session")
def alliance(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Alliance]:
    """Broker + hub shared by the session's scenario runs; never stop them here."""
    world = start_alliance(tmp_path_factory.mktemp("alliance"), lab)
    yield world
    world.close()


@pytest.fixture
def make_alliance(tmp_path: Path, lab: Lab) -> Iterator[Callable[..., Alliance]]:
    """Broker + hub of this test alone (to stop, freeze or restart); all closed after.
    `make(verbose=True)` runs the hub worker with `--verbose`."""
    made: list[Alliance] = []

    def make(*, verbose: bool = False) -> Alliance:
        world = start_alliance(tmp_path / f"alliance{len(made)}", lab, verbose=verbose)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


@pytest.fixture
def poll() -> Callable[..., object]:
    """`poll(check, timeout_s, what)`: wait for a condition, fail naming it."""
    return wait_until


@pytest.fixture
def watched() -> Iterator[list[Any]]:
    """Kiosks an outage test runs under supervision (tests/e2e/outage_watch.Watched);
    each is stopped after it: its supervision, the kiosk, its systemd socket."""
    made: list[Any] = []
    yield made
    for w in made:
        w.supervision.stop()
        w.kiosk.stop()
        w.systemd.close()


@pytest.fixture
def children() -> Iterator[list[KioskChild]]:
    """Kiosk processes a test starts; each is told to quit after it."""
    made: list[KioskChild] = []
    yield made
    for child in made:
        child.quit()
