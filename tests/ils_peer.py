"""The simulated Dongcheng system (ils_sim, on pysip2's server) as the tests run it:
stoppable and restartable on one port, with its state and journal kept in a folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.sip2.client import Sip2System
from ils_sim.journal import Journal
from ils_sim.library import load_library
from ils_sim.server import IlsSimulator

DATA = Path(__file__).resolve().parents[1] / "ils_sim" / "data" / "dongcheng.toml"


@dataclass
class Ils:
    """The simulated Dongcheng system, restartable on the same port, state and journal."""

    tmp: Path
    encoding: str
    port: int = 0
    sim: IlsSimulator | None = None
    journal_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.journal_file = self.tmp / "ils.jsonl"

    def start(self) -> IlsSimulator:
        """Serve (again) on the same port; the old connections may hold it a moment."""
        deadline = time.monotonic() + 10
        while True:
            sim = IlsSimulator(
                load_library(DATA),
                encoding=self.encoding,
                journal=Journal(self.journal_file),
                state_file=self.tmp / "ils-state.json",
                port=self.port,
            )
            try:
                self.port = sim.start()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            self.sim = sim
            return sim

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    @property
    def journal(self) -> Journal:
        """Everything handled so far, across restarts (read from the journal file)."""
        return Journal.read(self.journal_file)

    def system(self, **guests: str) -> Sip2System:
        return Sip2System(
            name="east",
            host="127.0.0.1",
            port=self.port,
            user="alliance",
            password="east-sip2-demo",
            institution="capital",
            location="alliance-kiosks",
            encoding=self.encoding,
            timeout_s=2.0,
            guest_patrons=guests or {"nlc": "GUEST-NLC"},
        )
