"""`make run`: a whole alliance on one machine, secured as deployed — a local CA under
`var/lab` (`hub.lab`), the alliance's TLS broker on 127.0.0.1:8883 (another free port if
that one is taken), the reference hub with its own certificate and signing key and its
demo catalogue, and a simulated kiosk enrolled for the Capital Library: with its
touchscreen and simulator panel when there is a display, else headless with a simulator
console on the terminal.

Dongcheng District Library keeps its own library system: an ILS simulator
(`python -m ils_sim`, SIP2 over TLS in GB18030 on 127.0.0.1:6001, state in `var/ils/`), which
the hub reaches for Dongcheng's books and cards (docs/sip2.md).

`--plain` runs the old lab setup instead (the machine's broker on 1883 if one answers,
else a private anonymous one, nothing signed), and every part says so at start."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from hub.broker_process import BrokerUnavailable, MosquittoProcess, free_port, port_answers
from hub.lab import Lab, demo_sip2_tables
from hub.pki_files import PkiError, write_secret

VAR = Path("var")
TLS_PORT = 8883
KIOSK_ID = "sim-kiosk-1"
LIBRARY_ID = "capital"
ILS_PORT = 6001


def _broker() -> tuple[str, MosquittoProcess | None]:
    if port_answers("127.0.0.1", 1883):
        print("run: using the broker already answering on 127.0.0.1:1883")
        return "mqtt://127.0.0.1:1883", None
    workdir = VAR / "mosquitto"
    workdir.mkdir(parents=True, exist_ok=True)
    broker = MosquittoProcess(port=1883, workdir=workdir.resolve()).start()
    print(f"run: started Mosquitto on 127.0.0.1:1883 (log in {workdir}/mosquitto.log)")
    return broker.url, broker


def _secure_broker(lab: Lab) -> MosquittoProcess:
    port = TLS_PORT if not port_answers("127.0.0.1", TLS_PORT) else free_port()
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


def _start_ils(lab: Lab) -> tuple[subprocess.Popen[str], str]:
    """Dongcheng's own library system (the ILS simulator) and the hub's `[sip2]` tables
    for it: the district's books and cards go through SIP2 over TLS (its certificate
    from the lab CA, `Lab.ils_server`), as in a real alliance."""
    folder = VAR / "ils"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = lab.ils_server("east")
    password = folder / "east.pw"
    if not password.exists():
        write_secret(password, (secrets.token_urlsafe(12) + "\n").encode())
    port = ILS_PORT if not port_answers("127.0.0.1", ILS_PORT) else free_port()
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


def _start_hub(broker_url: str, config: Path | None = None) -> subprocess.Popen[str]:
    VAR.mkdir(exist_ok=True)
    settings = ["--config", str(config)] if config else []
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", *settings, "--broker", broker_url, "--db", f"sqlite:///{VAR / 'hub.sqlite'}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert hub.stdout is not None
    for line in hub.stdout:  # the seed progress goes to stderr; the ready line to stdout
        if line.startswith("hub worker"):
            print(f"run: {line.strip()}")
            break
    # Keep reading: a hub writing to a pipe nobody reads would die of SIGPIPE at exit.
    threading.Thread(target=_drain, args=(hub.stdout,), name="hub-stdout", daemon=True).start()
    return hub


def _drain(stream: IO[str]) -> None:
    for line in stream:
        print(f"run: {line.rstrip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plain", action="store_true", help="the plain, unsigned lab setup")
    args = parser.parse_args(argv)
    lab = Lab(VAR / "lab")
    identity: list[str] = []
    ils, sip2_tables = _start_ils(lab)
    try:
        if args.plain:
            print("run: WARNING: --plain: no TLS, no certificates, nothing signed (a lab setup)")
            broker_url, broker = _broker()
            plain_hub = VAR / "plain-lab-hub.toml"
            pepper = f'[hub]\npin_pepper_file = "{lab.pin_pepper}"\n\n'  # the secure lab's pepper file
            write_secret(plain_hub, (pepper + sip2_tables).encode())
            hub = _start_hub(broker_url, plain_hub)
            lab_config = VAR / "plain-lab-kiosk.toml"
            lab_config.write_text("[hub]\npins_over_plain = true  # make run --plain only\n")
            identity = ["--config", str(lab_config)]
        else:
            broker = _secure_broker(lab)
            broker_url = broker.url
            bundle = lab.kiosk(KIOSK_ID, LIBRARY_ID)
            identity = ["--kiosk-id", KIOSK_ID, "--library", LIBRARY_ID, "--identity", str(bundle.cert.parent)]
            hub = _start_hub(broker_url, lab.hub_config("1", tables=sip2_tables))
    except BrokerUnavailable as exc:
        print(f"run: {exc}", file=sys.stderr)
        ils.terminate()
        return 1
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    kiosk = [sys.executable, "-m", "firmware", "--sim", "--broker", broker_url, *identity]
    if not display:
        print("run: no display found: the kiosk runs headless with a simulator console")
        kiosk.append("--headless")
    print("run: demo cards and books: `.venv/bin/python -m hub demo`")
    try:
        return subprocess.call(kiosk)
    except KeyboardInterrupt:
        return 0
    finally:
        hub.terminate()
        hub.wait(timeout=10)
        ils.terminate()
        ils.wait(timeout=10)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
