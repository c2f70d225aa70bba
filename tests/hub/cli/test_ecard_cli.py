"""`python -m hub ecard`: a demo token for a card the ledger knows, good at one kiosk,
which that kiosk's hub takes once; the card only masked on the terminal; no token for
staff, for a card nobody knows, or for longer than a minute."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import ecard, messages
from hub.__main__ import main
from hub.ledger.ledger import Ledger
from hub.pki.pin_pepper import write_pepper_file
from hub.rules import rules
from hub.rules.registry import Registry, load_registry
from hub.worker.answers import RequestAnswers

CARD = "0110000012341"  # the demo joint card


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def hub_toml(tmp_path: Path, registry: Registry) -> Path:
    pepper = tmp_path / "pin-pepper"
    write_pepper_file(pepper)
    db = tmp_path / "hub.sqlite"
    with Ledger.open(f"sqlite:///{db}", pepper) as ledger:
        ledger.seed_demo(registry, per_member=1)
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{db}"\npin_pepper_file = "{pepper}"\n', encoding="utf-8")
    return config


def test_the_token_printed_logs_its_reader_in_at_that_kiosk_once(
    hub_toml: Path, tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ecard", CARD, "--kiosk", "sim-kiosk-1", "--config", str(hub_toml)]) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    found = ecard.read_ecard(token)
    assert found is not None and found.claims.expires - found.claims.issued == 60
    assert CARD not in printed.err and "0110******341" in printed.err and "sim-kiosk-1" in printed.err
    with Ledger.open(f"sqlite:///{tmp_path}/hub.sqlite", tmp_path / "pin-pepper") as ledger:
        answers = RequestAnswers(ledger, registry, lambda: datetime.now(UTC), rules.SHANGHAI, 3)
        request = messages.EcardLogin(op="ecard_login", token=token, library_id="capital")
        assert answers.answer(request, "sim-kiosk-1").allowed is True
        assert answers.answer(request, "sim-kiosk-1").reason_code == "ecard_used"


def test_an_aged_token_has_expired_already(hub_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ecard", CARD, "--kiosk", "k1", "--age", "120", "--config", str(hub_toml)]) == 0
    found = ecard.read_ecard(capsys.readouterr().out.strip())
    assert found is not None and found.claims.expires < datetime.now(UTC).timestamp()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["88000000013", "--kiosk", "k1"], 2),  # a staff card: card and PIN only
        (["12", "--kiosk", "k1"], 2),  # no card of any scheme
        ([CARD, "--kiosk", "K 1"], 2),  # no kiosk id
        ([CARD, "--kiosk", "k1", "--lifetime", "61"], 2),  # over a minute
        (["0110000999992", "--kiosk", "k1"], 1),  # a valid number the ledger does not hold
    ],
)
def test_no_token_for_staff_strangers_bad_kiosks_or_long_lives(
    hub_toml: Path, args: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ecard", *args, "--config", str(hub_toml)]) == code
    assert "CLAEC1." not in capsys.readouterr().out
