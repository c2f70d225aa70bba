"""`python -m hub pki init / broker-config / enroll / revoke`, and the kiosk bundle that
`enroll` writes working unchanged in the real firmware link over TLS."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.config import load_config
from firmware.core.events import LinkChanged
from firmware.hub_link import HubLink, TlsFiles
from firmware.identity_keys import generate_identity
from hub.__main__ import main
from hub.lab.broker_process import TlsMosquittoProcess
from hub.pki.kiosk_certs import enroll_kiosk
from hub.pki.pki import init_pki
from hub.pki.pki_files import PkiError, enrolled_kiosks, read_secret
from kiosk_tools.cli import main as firmware_main


def test_pki_init_enroll_and_revoke_from_the_command_line(tmp_path: Path, capsys) -> None:
    pki = tmp_path / "pki"
    assert main(["pki", "init", "--dir", str(pki)]) == 0
    assert main(["pki", "init", "--dir", str(pki)]) == 2  # never a second CA over the first
    out = tmp_path / "k1"
    argv = ["enroll", "k1", "--library", "capital", "--out", str(out), "--pki", str(pki)]
    assert main(argv) == 0
    assert main(argv) == 2  # already enrolled: revoke first
    assert enrolled_kiosks(pki)["k1"]["library_id"] == "capital"
    assert main(["revoke", "k1", "--pki", str(pki)]) == 0
    assert enrolled_kiosks(pki)["k1"]["revoked_at"] is not None
    assert "kill -HUP" in capsys.readouterr().out
    for path in [*pki.rglob("*"), *out.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.parametrize("kiosk_id", ["k+1", "k#", "a/b", "hub", "hub-2", "broker", "K1", "", "_k"])
def test_enroll_refuses_an_id_that_could_not_be_one_topic_level_or_is_reserved(
    tmp_path: Path, kiosk_id: str, capsys
) -> None:
    init_pki(tmp_path / "pki")
    argv = [
        "enroll",
        kiosk_id,
        "--library",
        "capital",
        "--out",
        str(tmp_path / "k"),
        "--pki",
        str(tmp_path / "pki"),
    ]
    assert main(argv) == 2
    assert "hub: kiosk id" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_enroll_refuses_an_unknown_library_and_a_plain_broker(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki")
    base = ["enroll", "k1", "--out", str(tmp_path / "k"), "--pki", str(tmp_path / "pki")]
    assert main([*base, "--library", "nowhere"]) == 2
    assert main([*base, "--library", "capital", "--broker", "mqtt://127.0.0.1:1883"]) == 2
    assert "k1" not in enrolled_kiosks(tmp_path / "pki")


def test_a_secret_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    paths = init_pki(tmp_path / "pki")
    os.chmod(paths.ca_key, 0o644)
    with pytest.raises(PkiError, match=r"mode 0644.*chmod 600"):
        read_secret(paths.ca_key)
    argv = [
        "enroll",
        "k1",
        "--library",
        "capital",
        "--out",
        str(tmp_path / "k"),
        "--pki",
        str(paths.root),
    ]
    assert main(argv) == 2


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory the mosquitto user can reach (as root, broker-config hands its files
    to that user), unlike pytest's 0700 tmp_path."""
    with tempfile.TemporaryDirectory(prefix="broker-config-") as name:
        os.chmod(name, 0o755)
        yield Path(name)


def test_broker_config_writes_a_tls_only_configuration(tmp_path: Path, reachable_dir: Path) -> None:
    init_pki(tmp_path / "pki")
    out = reachable_dir / "broker"
    assert (
        main(
            ["broker-config", "--out", str(out), "--port", "18883", "--pki", str(tmp_path / "pki")]
        )
        == 0
    )
    conf = (out / "mosquitto.conf").read_text()
    for line in (
        "listener 18883 127.0.0.1",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "allow_anonymous false",
        "message_size_limit 16384",
        f"crlfile {out.resolve()}/crl.pem",
    ):
        assert line in conf.splitlines()
    assert "1883" not in conf.replace("18883", "")
    assert any(line.startswith("plugin ") and "dynamic_security" in line for line in conf.splitlines())
    roles = json.loads((out / "dynamic-security.json").read_text())
    assert roles["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert [c["username"] for c in roles["clients"]] == ["hub", "hub-1"]  # no kiosk yet


def test_enrolled_kiosk_toml_brings_the_firmware_link_online_over_tls(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert main(["pki", "init", "--dir", str(pki)]) == 0
    broker = TlsMosquittoProcess(pki=pki)
    out = tmp_path / "k1"
    argv = ["enroll", "k1", "--library", "capital", "--out", str(out), "--pki", str(pki)]
    assert main([*argv, "--broker", broker.url]) == 0
    _assert_online_over_tls(out / "kiosk.toml", broker, "k1")


def _assert_online_over_tls(kiosk_toml: Path, broker: TlsMosquittoProcess, kiosk_id: str) -> None:
    """The firmware's HubLink, built from `kiosk_toml` as firmware/assembly.py builds it,
    comes online on `broker` as `kiosk_id`."""
    config = load_config(kiosk_toml)
    assert config.hub.broker == broker.url
    tls = config.hub.tls
    events: queue.Queue = queue.Queue()
    with broker:
        link = HubLink(
            config.hub.broker,
            config.kiosk.id,
            config.kiosk.library_id,
            events.put,
            firmware_version="test",
            tls=TlsFiles(ca=tls.ca, cert=tls.cert, key=tls.key),
        )
        link.start()
        try:
            deadline = time.monotonic() + 10
            online = False
            while not online and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    online = events.get(timeout=0.5) == LinkChanged(True)
            assert online
            assert f"as {kiosk_id} (p5" in broker.log_text()  # the client id is the certificate's CN
        finally:
            link.stop()


def test_a_key_made_on_the_kiosk_never_leaves_it(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert main(["pki", "init", "--dir", str(pki)]) == 0
    broker = TlsMosquittoProcess(pki=pki)
    on_kiosk = tmp_path / "kiosk-k2"
    assert firmware_main(["keygen", "--kiosk-id", "k2", "--out", str(on_kiosk)]) == 0
    assert stat.S_IMODE((on_kiosk / "kiosk.key").stat().st_mode) == 0o600
    assert firmware_main(["keygen", "--kiosk-id", "k2", "--out", str(on_kiosk)]) == 1  # kept
    carried = tmp_path / "from-hub"
    argv = ["enroll", "k2", "--library", "capital", "--out", str(carried), "--pki", str(pki)]
    csr = ["--csr", str(on_kiosk / "kiosk.csr")]
    assert main([*argv, *csr, "--broker", broker.url]) == 2  # where is the key?
    assert main([*argv, *csr, "--kiosk-dir", str(on_kiosk), "--broker", broker.url]) == 0
    assert not (carried / "kiosk.key").exists()
    assert not any(b"PRIVATE KEY" in f.read_bytes() for f in carried.iterdir())
    for name in ("kiosk.crt", "ca.crt", "hub-signing.pub", "kiosk.toml"):
        (on_kiosk / name).write_bytes((carried / name).read_bytes())
    _assert_online_over_tls(on_kiosk / "kiosk.toml", broker, "k2")


def test_a_request_for_another_kiosk_or_forged_is_refused(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    made = generate_identity(tmp_path / "k3", "k3")
    with pytest.raises(PkiError, match="names \\['k3'\\], not kiosk 'k4'"):
        enroll_kiosk(pki.root, "k4", "capital", tmp_path / "out", made.csr.read_bytes())
    pem = made.csr.read_bytes()
    body = pem.split(b"\n")
    body[3] = body[3][:10] + (b"A" if body[3][10:11] != b"A" else b"B") + body[3][11:]
    with pytest.raises(PkiError):
        enroll_kiosk(pki.root, "k3", "capital", tmp_path / "out", b"\n".join(body))
    with pytest.raises(PkiError, match="not a PEM CSR"):
        enroll_kiosk(pki.root, "k3", "capital", tmp_path / "out", b"junk")
    assert "k3" not in enrolled_kiosks(pki.root)
