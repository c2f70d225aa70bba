"""`--fullscreen` reaches the Kivy window: the flag the systemd unit passes is wired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kiosk_ui
from kiosk_tools.app import run_kiosk
from kiosk_tools.cli import _kiosk_parser


@pytest.mark.parametrize("flag", [True, False])
def test_the_command_line_flag_reaches_run_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: bool
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(kiosk_ui, "run_app", lambda *a, **kw: calls.append(kw))
    argv = ["--sim", "--broker", "mqtt://127.0.0.1:9", "--journal", str(tmp_path / "j.sqlite3")]
    args = _kiosk_parser().parse_args(argv + (["--fullscreen"] if flag else []))
    assert run_kiosk(args) == 0
    assert len(calls) == 1
    assert calls[0]["fullscreen"] is flag
    # Full screen takes the panel's own mode; a window gets the demo size.
    assert calls[0]["size"] == (None if flag else (1280, 800))
