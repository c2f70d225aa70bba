"""A raw-socket SIP2 client written here (not hub/sip2), and simulators to point it at.

The client is deliberately tiny and independent: it frames with AY/AZ, reads to CR,
checks the answer's checksum over the bytes, decodes the whole frame before splitting
fields on "|" (GB18030 may carry a 0x7C byte inside a character), and returns `Answer`s.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from ils_sim.library import load_library
from ils_sim.server import IlsSimulator

DATA = Path(__file__).resolve().parents[2] / "ils_sim" / "data" / "dongcheng.toml"
LOGIN = "9300CNalliance|COeast-sip2-demo|CPalliance-kiosks|"

# Length of the fixed part after the command code, per answer code.
FIXED = {"94": 1, "98": 34, "24": 35, "64": 59, "18": 24, "12": 22, "10": 22, "30": 22,
         "36": 19, "96": 0}  # fmt: skip


def sip_now() -> str:
    now = datetime.now()
    return now.strftime("%Y%m%d") + "    " + now.strftime("%H%M%S")


@dataclass
class Answer:
    code: str
    fixed: str
    fields: dict[str, list[str]]
    raw: bytes

    def get(self, field_id: str) -> str | None:
        values = self.fields.get(field_id)
        return values[0] if values else None


class RawSip2:
    """One SIP2 connection: `ask(body)` sends a framed request and returns the Answer."""

    def __init__(self, port: int, encoding: str = "utf-8") -> None:
        self.encoding = encoding
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.seq = 0

    def frame(self, body: str) -> bytes:
        data = f"{body}AY{self.seq}AZ".encode(self.encoding)
        self.seq = (self.seq + 1) % 10
        return data + f"{(-sum(data)) & 0xFFFF:04X}".encode("ascii") + b"\r"

    def send_bytes(self, data: bytes) -> bytes:
        """Send raw bytes; the answer frame without CR (b"" when the peer closed)."""
        buf = b""
        try:
            self.sock.sendall(data)
            while not buf.endswith(b"\r"):
                chunk = self.sock.recv(4096)
                if not chunk:
                    return b""
                buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return b""
        return buf[:-1]

    def ask(self, body: str) -> Answer:
        raw = self.send_bytes(self.frame(body))
        assert raw, f"connection closed without an answer to {body[:2]}"
        assert (sum(raw[:-4]) + int(raw[-4:], 16)) & 0xFFFF == 0, "bad checksum"
        text = raw.decode(self.encoding)
        text = text[:-9] if text[-9:-7] == "AY" else text[:-6]  # AYnAZxxxx or AZxxxx
        code, n = text[:2], FIXED[text[:2]]
        fields: dict[str, list[str]] = {}
        for piece in text[2 + n :].split("|"):
            if piece:
                fields.setdefault(piece[:2], []).append(piece[2:])
        return Answer(code, text[2 : 2 + n], fields, raw)

    # Requests in the shapes a self-check client sends them -----------------------

    def login(self) -> Answer:
        return self.ask(LOGIN)

    def patron_info(self, patron: str, pin: str | None = None) -> Answer:
        ad = f"AD{pin}|" if pin is not None else ""
        return self.ask(f"63001{sip_now()}  Y       AOcapital|AA{patron}|AC|{ad}")

    def item_info(self, item: str) -> Answer:
        return self.ask(f"17{sip_now()}AOcapital|AB{item}|AC|")

    def checkout(self, patron: str, item: str, *, no_block: str = "N") -> Answer:
        now = sip_now()
        return self.ask(f"11N{no_block}{now}{now}AOcapital|AA{patron}|AB{item}|AC|")

    def checkin(self, item: str, at: str) -> Answer:
        now = sip_now()
        return self.ask(f"09N{now}{now}AP{at}|AOcapital|AB{item}|AC|")

    def renew(self, patron: str, item: str) -> Answer:
        now = sip_now()
        return self.ask(f"29NN{now}{now}AOcapital|AA{patron}|AB{item}|AC|")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A private copy of the Dongcheng data set."""
    return Path(shutil.copy(DATA, tmp_path / "dongcheng.toml"))


@pytest.fixture
def start_sim(data_file: Path) -> Iterator[Callable[..., IlsSimulator]]:
    """`start_sim(encoding=..., state_file=...)`: a running simulator on the data copy."""
    started: list[IlsSimulator] = []

    def start(**kwargs: object) -> IlsSimulator:
        sim = IlsSimulator(load_library(data_file), **kwargs)  # type: ignore[arg-type]
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., RawSip2]]:
    """`connect(port, encoding)`: a logged-out raw SIP2 connection, closed after the test."""
    clients: list[RawSip2] = []

    def open_client(port: int, encoding: str = "utf-8") -> RawSip2:
        client = RawSip2(port, encoding)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def session(
    start_sim: Callable[..., IlsSimulator], connect: Callable[..., RawSip2]
) -> Callable[..., tuple[IlsSimulator, RawSip2]]:
    """`session(encoding="utf-8", **sim_kwargs)`: a running simulator and a client that
    has logged in (93 answered ok)."""

    def open_session(encoding: str = "utf-8", **kwargs: object) -> tuple[IlsSimulator, RawSip2]:
        sim = start_sim(encoding=encoding, **kwargs)
        client = connect(sim.port, encoding)
        assert client.login().fixed == "1"
        return sim, client

    return open_session
