"""`python -m ils_sim` as a separate process: ready line, journal file, SIGTERM, restart."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ils_sim.journal import Journal

READER = "0101000012373"
ITEM_1 = "30101000000018"
ITEM_2 = "30101000000026"
READY = re.compile(r"^ils_sim: listening on 127\.0\.0\.1:(\d+) \(plain\)$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, data: Path, tmp: Path, encoding: str = "gb18030") -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ils_sim", "--port", str(port), "--data", str(data),
         "--encoding", encoding, "--journal", str(tmp / "ils.jsonl"),
         "--state", str(tmp / "ils-state.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    line = proc.stdout.readline().strip()
    match = READY.match(line)
    if match is None:
        proc.kill()
        pytest.fail(f"no ready line: {line!r} {proc.stderr.read()!r}")
    assert int(match.group(1)) == port
    return proc


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def test_a_restart_on_the_same_state_keeps_loans_and_the_journal_continues(
    data_file, connect, tmp_path
):
    port = _free_port()
    first = _start(port, data_file, tmp_path)
    try:
        client = connect(port, "gb18030")
        client.login()
        assert client.checkout(READER, ITEM_1).fixed[0] == "1"
        assert client.checkout(READER, ITEM_2).fixed[0] == "1"
        assert client.checkin(ITEM_2, at="xicheng").fixed[0] == "1"
    finally:
        assert _stop(first) == 0

    second = _start(port, data_file, tmp_path)  # same port, data, state and journal
    try:
        client = connect(port, "gb18030")
        client.login()
        assert client.patron_info(READER, "196080").fields["AU"] == [ITEM_1]
        assert client.checkin(ITEM_1, at="dongcheng").fixed[0] == "1"
        assert client.checkin(ITEM_2, at="xicheng").get("AF") == "item not checked out"
    finally:
        assert _stop(second) == 0

    journal = Journal.read(tmp_path / "ils.jsonl")
    assert journal.count("09", item=ITEM_1) == 1
    assert [r.ok for r in journal.requests("09", item=ITEM_2)] == ["1", "0"]
    assert journal.counts()["93"] == 2
    lines = (tmp_path / "ils.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(journal.counts().values())


def test_bad_data_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('library_name = "no institution"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ils_sim", "--port", "0", "--data", str(bad)],
        capture_output=True, text=True, timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 2 and "institution" in done.stderr


def test_with_a_certificate_it_serves_sip2_over_tls_and_refuses_plain_clients(data_file, tmp_path):
    import ssl

    from hub.pki.pki import init_pki, server_identity

    init_pki(tmp_path / "pki")
    ident = server_identity(tmp_path / "pki", "ils-east", tmp_path / "pki" / "ils")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ils_sim", "--port", "0", "--data", str(data_file), "--encoding", "utf-8",
         "--tls-cert", str(ident.cert), "--tls-key", str(ident.key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        match = re.match(r"^ils_sim: listening on 127\.0\.0\.1:(\d+) \(tls\)$", line)
        assert match, line
        port = int(match.group(1))
        context = ssl.create_default_context(cafile=str(ident.ca))
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            data = b"9300CNalliance|COeast-sip2-demo|CPalliance-kiosks|AY0AZ"
            tls.sendall(data + f"{(-sum(data)) & 0xFFFF:04X}".encode() + b"\r")
            assert tls.recv(100).startswith(b"941")  # logged in, over TLS
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(b"9300CNalliance|COeast-sip2-demo|CPalliance-kiosks|AY0AZ0000\r")
            assert not plain.recv(100).startswith(b"94")  # no SIP2 in clear
    finally:
        assert _stop(proc) == 0


def test_a_certificate_without_its_key_exits_2(data_file):
    done = subprocess.run(
        [sys.executable, "-m", "ils_sim", "--port", "0", "--data", str(data_file), "--tls-cert", "x.crt"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 2 and "--tls-cert and --tls-key go together" in done.stderr
