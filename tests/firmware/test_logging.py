"""Logging: JSON lines with extras, and no whole card number or name in any record."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.logging_setup import configure_logging, mask_digits

CARD = "0110000012345"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_importing_configures_nothing() -> None:
    import importlib

    root = logging.getLogger()
    before = list(root.handlers)
    importlib.reload(importlib.import_module("firmware.logging_setup"))
    assert root.handlers == before


def test_json_lines_carry_ts_level_logger_msg_and_extras(
    tmp_path: Path, restore_root: None
) -> None:
    log_file = tmp_path / "logs" / "kiosk.log"
    configure_logging("INFO", json_lines=True, file=log_file)
    logging.getLogger("firmware.test").info(
        "loan %s", "ok", extra={"txn_id": "01HX-k1", "items": 2}
    )
    logging.getLogger("firmware.test").debug("not shown at INFO")
    (entry,) = lines(log_file)
    assert entry["level"] == "INFO" and entry["logger"] == "firmware.test"
    assert entry["msg"] == "loan ok"
    assert entry["txn_id"] == "01HX-k1" and entry["items"] == 2
    assert entry["ts"].endswith("+00:00")


def test_card_numbers_are_masked_in_message_args_and_extras(
    tmp_path: Path, restore_root: None
) -> None:
    log_file = tmp_path / "kiosk.log"
    configure_logging("DEBUG", json_lines=True, file=log_file)
    log = logging.getLogger("firmware.test")
    log.info("tap %s", CARD)
    log.info(f"careless f-string {CARD}")
    log.info("extras", extra={"card": CARD, "card_ref": {"scheme": "joint", "number": CARD}})
    log.info("name", extra={"reader_name": "Zhang San", "masked_name": "张三"})
    log.info("nested", extra={"payload": {"card": "A1B2C3D4E5F6", "note": f"n={CARD}"}})
    text = log_file.read_text(encoding="utf-8")
    assert CARD not in text and "Zhang" not in text and "张三" not in text
    assert "A1B2C3D4E5F6" not in text
    entries = lines(log_file)
    assert entries[0]["msg"] == "tap 0110*345"
    assert entries[1]["msg"] == "careless f-string 0110*345"
    assert entries[2]["card"] == "0110*345"
    assert entries[2]["card_ref"] == {"scheme": "j*", "number": "0110*345"}
    assert entries[3]["reader_name"] == "Z*" and entries[3]["masked_name"] == "张*"
    assert entries[4]["payload"] == {"card": "A1B2*5F6", "note": "n=0110*345"}


def test_tracebacks_are_masked_too(tmp_path: Path, restore_root: None) -> None:
    log_file = tmp_path / "kiosk.log"
    configure_logging("INFO", json_lines=False, file=log_file)
    try:
        raise ValueError(f"card {CARD} refused")
    except ValueError:
        logging.getLogger("firmware.test").exception("failed")
    text = log_file.read_text(encoding="utf-8")
    assert "Traceback" in text and "0110*345" in text and CARD not in text


def test_plain_text_goes_to_stderr_and_reconfiguring_replaces_handlers(
    capsys: pytest.CaptureFixture[str], restore_root: None
) -> None:
    configure_logging("INFO", json_lines=False, file=None)
    configure_logging("INFO", json_lines=False, file=None)
    logging.getLogger("firmware.test").warning("scan %s", "30101000000017")
    err = capsys.readouterr().err
    assert err.count("scan 3010*017") == 1
    assert "WARNING firmware.test" in err


def test_the_mask_keeps_short_numbers_and_ids_readable() -> None:
    assert mask_digits("pin attempts 3, item 123456789") == "pin attempts 3, item 123456789"
    assert mask_digits("0110000012345 and 30101000000017") == "0110*345 and 3010*017"
    assert mask_digits("01HXY3K2Q80000-k1") == "01HXY3K2Q80000-k1"


def test_the_log_file_never_grows_past_its_bound(tmp_path: Path, restore_root: None) -> None:
    log_file = tmp_path / "logs" / "kiosk.log"
    configure_logging("INFO", file=log_file, max_bytes=4096, backups=2)
    log = logging.getLogger("test.bounded")
    for n in range(2000):
        log.info("loan %d recorded for item 3010%09d", n, n)
    files = sorted(log_file.parent.iterdir())
    assert [f.name for f in files] == ["kiosk.log", "kiosk.log.1", "kiosk.log.2"]
    assert sum(f.stat().st_size for f in files) <= 3 * 4096 + 200
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_an_unbounded_file_log_is_refused(tmp_path: Path, restore_root: None) -> None:
    with pytest.raises(ValueError, match="bounded"):
        configure_logging("INFO", file=tmp_path / "k.log", max_bytes=0)
