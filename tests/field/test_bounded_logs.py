"""A log file on the SD card is bounded: it rotates, keeps a fixed number of old files,
and every generation stays private."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.logging_setup import configure_logging


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
