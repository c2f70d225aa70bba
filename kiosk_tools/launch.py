"""`make run`: a whole alliance on one machine — a broker (the machine's own if one
answers on 1883, else a private Mosquitto), the reference hub with its demo catalogue,
and a simulated kiosk: with its touchscreen and simulator panel when there is a
display, else headless with a simulator console on the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.broker_process import BrokerUnavailable, MosquittoProcess, port_answers

VAR = Path("var")


def _broker() -> tuple[str, MosquittoProcess | None]:
    if port_answers("127.0.0.1", 1883):
        print("run: using the broker already answering on 127.0.0.1:1883")
        return "mqtt://127.0.0.1:1883", None
    workdir = VAR / "mosquitto"
    workdir.mkdir(parents=True, exist_ok=True)
    broker = MosquittoProcess(port=1883, workdir=workdir.resolve()).start()
    print(f"run: started Mosquitto on 127.0.0.1:1883 (log in {workdir}/mosquitto.log)")
    return broker.url, broker


def _start_hub(broker_url: str) -> subprocess.Popen[str]:
    VAR.mkdir(exist_ok=True)
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", "--broker", broker_url, "--db", f"sqlite:///{VAR / 'hub.sqlite'}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert hub.stdout is not None
    for line in hub.stdout:  # the seed progress goes to stderr; the ready line to stdout
        if line.startswith("hub worker"):
            print(f"run: {line.strip()}")
            break
    return hub


def main() -> int:
    try:
        broker_url, broker = _broker()
    except BrokerUnavailable as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    hub = _start_hub(broker_url)
    display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    kiosk = [sys.executable, "-m", "firmware", "--sim", "--broker", broker_url]
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
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
