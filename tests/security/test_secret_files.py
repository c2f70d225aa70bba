"""Secret files others can read are refused at load, with the file and the fix named
(issue 10 item 6): the kiosk's TLS key and broker password, the hub worker's TLS key."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.config import ConfigError, load_config
from hub.config import load_config as load_hub_config
from hub.lab.lab import Lab


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab = Lab(tmp_path_factory.mktemp("secret-files"))
    return lab.kiosk("k-secret", "capital").cert.parent


def _kiosk_toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_kiosk_refuses_a_tls_key_others_can_read(tmp_path: Path, bundle: Path, mode: int) -> None:
    key = tmp_path / "kiosk.key"
    key.write_bytes((bundle / "kiosk.key").read_bytes())
    key.chmod(mode)
    config = _kiosk_toml(
        tmp_path,
        f'[hub]\nbroker = "mqtts://127.0.0.1:8883"\n[hub.tls]\nca = "{bundle / "ca.crt"}"\n'
        f'cert = "{bundle / "kiosk.crt"}"\nkey = "{key}"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(config, {})
    message = str(info.value)
    assert "hub.tls.key" in message and str(key) in message and "chmod 600" in message


def test_kiosk_takes_its_own_0600_bundle(tmp_path: Path, bundle: Path) -> None:
    from firmware.config import enrolment_overrides

    config = load_config(None, {"hub.broker": "mqtts://127.0.0.1:8883", **enrolment_overrides(bundle)})
    assert config.hub.tls.key == bundle / "kiosk.key"
    assert config.hub.hub_public_key == bundle / "hub-signing.pub"


def test_kiosk_refuses_a_broker_password_file_others_can_read(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    config = _kiosk_toml(tmp_path, f'[hub]\nusername = "k"\npassword_file = "{secret}"\n')
    with pytest.raises(ConfigError, match=r"hub.password_file: .* refused: group or others"):
        load_config(config, {})


def test_hub_refuses_a_worker_key_others_can_read(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab")
    settings = lab.hub_config("1")
    assert load_hub_config(settings).tls.key is not None  # 0600 as issued: taken
    lab.hub_worker("1").key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"hub.tls.*group or others can read it"):
        load_hub_config(settings)
