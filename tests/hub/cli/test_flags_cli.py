"""`python -m hub flags`: staff see what the hub flagged on a kiosk, and lower it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.ledger import kiosk_flags
from hub.ledger.ledger import Ledger
from hub.pki.pin_pepper import write_pepper_file

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def hub_toml(tmp_path: Path) -> Path:
    pepper = tmp_path / "pin-pepper"
    write_pepper_file(pepper)
    db = tmp_path / "hub.sqlite"
    with Ledger.open(f"sqlite:///{db}", pepper) as ledger:
        ledger.raise_kiosk_flag("k1", kiosk_flags.CLOCK_OFF, "clock offset +34560000 s", NOW)
        ledger.raise_kiosk_flag("k2", kiosk_flags.CARD_WALKING, "12 unknown cards in 10 min", NOW)
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{db}"\npin_pepper_file = "{pepper}"\n', encoding="utf-8")
    return config


def test_staff_list_every_flag_with_its_detail(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flags", "--config", str(hub_toml)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["k1", "clock_off"], ["k2", "card_walking"]]
    assert "clock offset +34560000 s" in out[0]
    assert main(["flags", "--config", str(hub_toml), "--kiosk", "k2", "--json"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert (only["kiosk_id"], only["flag"], only["count"]) == ("k2", "card_walking", 1)


def test_staff_lower_a_flag_and_status_no_longer_shows_it(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flags", "clear", "k1", "--flag", "clock_off", "--config", str(hub_toml)]) == 0
    assert "lowered flag clock_off (1 up)" in capsys.readouterr().out
    assert main(["flags", "clear", "k1", "--config", str(hub_toml)]) == 1  # nothing left to lower
    capsys.readouterr()
    assert main(["flags", "--config", str(hub_toml), "--json"]) == 0
    assert [f["kiosk_id"] for f in json.loads(capsys.readouterr().out)] == ["k2"]


def test_a_kiosk_id_that_is_no_kiosk_id_is_refused(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flags", "clear", "K1/#", "--config", str(hub_toml)]) == 2
    assert "not a kiosk id" in capsys.readouterr().err
