"""The simulated Dongcheng system (ils_sim, on pysip2's server) as the tests run it:
stoppable and restartable on one port, with its state and journal kept in a folder, and
served over TLS with a certificate of its own CA (as a member's system would be; the
hub verifies it against that CA, `Ils.ca`). `tls=False` serves plain TCP, which the
hub's side must then allow (`allow_plain`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.pki.pki import ClientIdentity, init_pki, server_identity
from hub.sip2.client import Sip2System
from ils_sim.journal import Journal
from ils_sim.library import load_library
from ils_sim.server import IlsSimulator, server_tls

DATA = Path(__file__).resolve().parents[1] / "ils_sim" / "data" / "dongcheng.toml"


@dataclass
class Ils:
    """The simulated Dongcheng system, restartable on the same port, state and journal."""

    tmp: Path
    encoding: str
    port: int = 0
    sim: IlsSimulator | None = None
    tls: bool = True
    repeat_checkout: str = "renew"  # "refuse": a repeated 11 is answered ok=0 (ils_sim/circulation.py)
    journal_file: Path = field(init=False)
    identity: ClientIdentity | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.journal_file = self.tmp / "ils.jsonl"
        if self.tls:
            pki = self.tmp / "ils-pki"
            if not (pki / "ca.crt").exists():
                init_pki(pki)
            self.identity = server_identity(pki, "ils-east", pki / "ils")

    @property
    def ca(self) -> Path | None:
        """The CA the system's certificate chains to (None: plain TCP)."""
        return self.identity.ca if self.identity is not None else None

    def start(self) -> IlsSimulator:
        """Serve (again) on the same port; the old connections may hold it a moment."""
        deadline = time.monotonic() + 10
        while True:
            library = load_library(DATA)
            library.repeat_checkout = self.repeat_checkout
            sim = IlsSimulator(
                library,
                encoding=self.encoding,
                journal=Journal(self.journal_file),
                state_file=self.tmp / "ils-state.json",
                port=self.port,
                tls=server_tls(self.identity.cert, self.identity.key) if self.identity else None,
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
        """The hub's `[sip2.systems.east]` for this system: TLS verified against its CA."""
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
            tls=self.tls,
            tls_ca=self.ca,
            allow_plain=not self.tls,
        )
