"""`make run`: a whole alliance on one machine, secured as deployed — a local CA under
`var/lab` (`hub.lab.lab`), the alliance's TLS broker on 127.0.0.1:8883 (another free port if
that one is taken), the reference hub with its own certificate and signing key and its
demo catalogue, and a simulated kiosk enrolled for the Capital Library: with its
touchscreen and simulator panel when there is a display, else headless with a simulator
console on the terminal.

Dongcheng District Library keeps its own library system: an ILS simulator
(`python -m ils_sim`, SIP2 over TLS in GB18030 on 127.0.0.1:6001, state in `var/ils/`), which
the hub reaches for Dongcheng's books and cards (docs/sip2.md).

It leaves the operator's settings in `var/lab/hub.toml` (the broker, the ledger, the
`hub` identity, the PKI, the `[sip2]` tables), which `python -m hub status`, `command`,
`exceptions`, `enroll`, `revoke`, `sip2-check` and scenario plays read by default
(hub/cli/operator_config.py).

`--plain` runs the old lab setup instead (the machine's broker on 1883 if one answers,
else a private anonymous one, nothing signed), and every part says so at start."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hub.lab.broker_process import (
    BrokerUnavailable,
    MosquittoProcess,
    TlsMosquittoProcess,
    free_port,
)
from hub.lab.lab import Lab, demo_sip2_tables
from hub.pki.broker_admin import port_answers
from hub.pki.pki_files import PkiError, write_secret
from hub.worker.worker_process import WorkerNotReady, WorkerProcess, start_hub_worker, worker_args

VAR = Path("var")
TLS_PORT = 8883
KIOSK_ID = "sim-kiosk-1"
LIBRARY_ID = "capital"
ILS_PORT = 6001


def _broker(var: Path) -> tuple[str, MosquittoProcess | None]:
    if port_answers("127.0.0.1", 1883):
        print("run: using the broker already answering on 127.0.0.1:1883")
        return "mqtt://127.0.0.1:1883", None
    workdir = var / "mosquitto"
    workdir.mkdir(parents=True, exist_ok=True)
    broker = MosquittoProcess(port=1883, workdir=workdir.resolve()).start()
    print(f"run: started Mosquitto on 127.0.0.1:1883 (log in {workdir}/mosquitto.log)")
    return broker.url, broker


def _port(preferred: int | None) -> int:
    return preferred if preferred is not None and not port_answers("127.0.0.1", preferred) else free_port()


def _secure_broker(lab: Lab, preferred_port: int | None = TLS_PORT) -> TlsMosquittoProcess:
    port = _port(preferred_port)
    workdir = lab.root / "broker"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        broker = lab.broker(port=port, workdir=workdir).start()
    except PkiError as exc:
        # Run as root, Mosquitto drops to its own user, which cannot enter a private
        # checkout (e.g. under /root): its files go to a temporary directory instead.
        print(f"run: {exc}\nrun: the broker's files go to a temporary directory instead")
        broker = lab.broker(port=port).start()
        workdir = broker.workdir
    print(f"run: started the alliance broker on {broker.url} (TLS, certificates; log in {workdir})")
    return broker


def _start_ils(var: Path, lab: Lab, preferred_port: int | None = ILS_PORT) -> tuple[subprocess.Popen[str], str]:
    """Dongcheng's own library system (the ILS simulator) and the hub's `[sip2]` tables
    for it: the district's books and cards go through SIP2 over TLS (its certificate
    from the lab CA, `Lab.ils_server`), as in a real alliance."""
    folder = var / "ils"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = lab.ils_server("east")
    password = folder / "east.pw"
    if not password.exists():
        write_secret(password, (secrets.token_urlsafe(12) + "\n").encode())
    port = _port(preferred_port)
    ils = subprocess.Popen(
        [sys.executable, "-m", "ils_sim", "--port", str(port), "--encoding", "gb18030",
         "--password-file", str(password), "--journal", str(folder / "journal.jsonl"),
         "--state", str(folder / "state.json"),
         "--tls-cert", str(identity.cert), "--tls-key", str(identity.key)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert ils.stdout is not None
    for line in ils.stdout:
        if line.startswith("ils_sim: listening"):
            break
    threading.Thread(target=_drain, args=(ils.stdout,), name="ils-stdout", daemon=True).start()
    print(f"run: Dongcheng's own library system (ILS simulator, SIP2 over TLS, GB18030) on 127.0.0.1:{port}")
    return ils, demo_sip2_tables(port, password.resolve(), identity.ca)


def _start_hub(broker_url: str, db_url: str, config: Path | None = None) -> WorkerProcess:
    """The hub worker (hub/worker/worker_process.py), once it says READY; its stdout is echoed
    and kept read to the end (a hub writing to a pipe nobody reads would die of SIGPIPE
    at exit). The seed progress goes to stderr, the terminal's; a first run seeds the demo
    catalogue before it is ready, hence the generous deadline."""
    return start_hub_worker(
        worker_args(broker_url, db_url, config=config), echo=lambda line: print(f"run: {line}"), timeout_s=3600.0
    )


def _drain(stream: IO[str]) -> None:
    for line in stream:
        print(f"run: {line.rstrip()}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Alliance:
    """What `make run` started: broker, hub worker, Dongcheng's ILS, and the argv of the
    simulated kiosk it enrolled (`kiosk_argv`, without `--headless`)."""

    broker_url: str
    broker: MosquittoProcess | None
    hub: WorkerProcess
    ils: subprocess.Popen[str]
    kiosk_argv: list[str]
    operator_config: Path | None = None  # the secure setup's var/lab/hub.toml

    def close(self) -> None:
        self.hub.stop()
        _stop(self.ils)
        if self.broker is not None:
            self.broker.stop()


def start_secure(var: Path = VAR, *, preferred_ports: bool = True) -> Alliance:
    """The secure setup under `var` (`var/lab`: PKI, broker files, bundles, worker and
    operator configs; `var/hub.sqlite`; `var/ils`), as `make run` starts it; the tests
    call it with a temporary `var` and `preferred_ports=False` (free ports only)."""
    lab = Lab(var / "lab")
    ils, sip2_tables = _start_ils(var, lab, ILS_PORT if preferred_ports else None)
    try:
        broker = _secure_broker(lab, TLS_PORT if preferred_ports else None)
    except BaseException:
        _stop(ils)
        raise
    db_url = f"sqlite:///{(var / 'hub.sqlite').resolve()}"
    bundle = lab.kiosk(KIOSK_ID, LIBRARY_ID)
    operator = lab.operator_config(broker.url, db_url, tables=sip2_tables)
    try:
        hub = _start_hub(broker.url, db_url, lab.hub_config("1", tables=sip2_tables))
    except BaseException:
        _stop(ils)
        broker.stop()
        raise
    kiosk = [sys.executable, "-m", "kiosk_tools", "--sim", "--broker", broker.url,
             "--kiosk-id", KIOSK_ID, "--library", LIBRARY_ID, "--identity", str(bundle.cert.parent)]  # fmt: skip
    print(f"run: operator commands (python -m hub status, command, exceptions, ...) use {operator}")
    return Alliance(broker.url, broker, hub, ils, kiosk, operator)


def start_plain(var: Path = VAR) -> Alliance:
    """`--plain`: the old lab setup (no TLS, no certificates, nothing signed)."""
    lab = Lab(var / "lab")
    ils, sip2_tables = _start_ils(var, lab)
    print("run: WARNING: --plain: no TLS, no certificates, nothing signed (a lab setup)")
    try:
        broker_url, broker = _broker(var)
    except BaseException:
        _stop(ils)
        raise
    plain_hub = var / "plain-lab-hub.toml"
    pepper = f'[hub]\npin_pepper_file = "{lab.pin_pepper}"\n\n'  # the secure lab's pepper file
    write_secret(plain_hub, (pepper + sip2_tables).encode())
    db_url = f"sqlite:///{(var / 'hub.sqlite').resolve()}"
    try:
        hub = _start_hub(broker_url, db_url, plain_hub)
    except BaseException:
        _stop(ils)
        if broker is not None:
            broker.stop()
        raise
    # The operator's commands follow this setup too (not a secure run's stale settings).
    operator = var / "lab" / "hub.toml"
    write_secret(
        operator,
        f'# make run --plain: no TLS\n[hub]\nbroker = "{broker_url}"\ndb = "{db_url}"\n'
        f'pin_pepper_file = "{lab.pin_pepper}"\n\n{sip2_tables}'.encode(),
    )
    lab_config = var / "plain-lab-kiosk.toml"
    lab_config.write_text("[hub]\npins_over_plain = true  # make run --plain only\n")
    kiosk = [sys.executable, "-m", "kiosk_tools", "--sim", "--broker", broker_url, "--config", str(lab_config)]
    return Alliance(broker_url, broker, hub, ils, kiosk, operator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plain", action="store_true", help="the plain, unsigned lab setup")
    args = parser.parse_args(argv)
    VAR.mkdir(exist_ok=True)
    try:
        alliance = start_plain(VAR) if args.plain else start_secure(VAR)
    except (BrokerUnavailable, WorkerNotReady) as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    kiosk = list(alliance.kiosk_argv)
    if not display:
        print("run: no display found: the kiosk runs headless with a simulator console")
        kiosk.append("--headless")
    print("run: demo cards and books: `.venv/bin/python -m hub demo`")
    try:
        return subprocess.call(kiosk)
    except KeyboardInterrupt:
        return 0
    finally:
        alliance.close()


if __name__ == "__main__":
    sys.exit(main())
