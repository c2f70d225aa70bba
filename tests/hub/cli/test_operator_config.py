"""Operator commands find the hub settings `make run` left (`./var/lab/hub.toml`) or the
file `ALLIANCE_HUB_CONFIG` names, say which on stderr, and never override `--config`;
`hub command` speaks in words and says plainly when a kiosk does not answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract import messages
from contract.settings import ConfigError
from hub.cli.command_cli import describe_result
from hub.cli.operator_config import ENV_VAR, config_for, find_config
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[3]


def _lab_file(folder: Path) -> Path:
    path = folder / "var" / "lab" / "hub.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[hub]\ndb = "sqlite:///x.sqlite"\n')
    return path


def test_the_search_order_is_config_then_environment_then_the_lab_of_this_directory(tmp_path: Path) -> None:
    said: list[str] = []
    lab = _lab_file(tmp_path)
    other = tmp_path / "other.toml"
    other.write_text("[hub]\n")
    assert find_config("given.toml", say=said.append, environ={ENV_VAR: str(other)}, cwd=tmp_path) == "given.toml"
    assert said == []  # named on the command line: nothing to tell
    assert find_config(None, say=said.append, environ={ENV_VAR: str(other)}, cwd=tmp_path) == str(other)
    assert find_config(None, say=said.append, environ={}, cwd=tmp_path) == str(lab)
    assert find_config(None, say=said.append, environ={}, cwd=tmp_path / "var") is None
    assert said[0] == f"hub: using {other} (from {ENV_VAR})"
    assert said[1].startswith(f"hub: using {lab} (the lab `make run` set up")
    with pytest.raises(ConfigError, match=f"{ENV_VAR}=.*missing.toml: no such file"):
        find_config(None, environ={ENV_VAR: str(tmp_path / "missing.toml")}, cwd=tmp_path)


def test_a_worker_reads_only_the_config_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    _lab_file(tmp_path)
    assert config_for(None, None) is None and config_for("retire", None) is None
    assert config_for("status", None) == str(Path("var") / "lab" / "hub.toml")


def _hub(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**environ, **(env or {})})  # fmt: skip


def test_status_in_a_directory_with_a_lab_reads_its_ledger_and_says_so(tmp_path: Path) -> None:
    path = _lab_file(tmp_path)
    path.write_text(f'[hub]\ndb = "sqlite:///{tmp_path}/lab.sqlite"\n')
    missing = _hub("status", cwd=tmp_path)
    assert missing.returncode == 1 and f"no ledger at {tmp_path}/lab.sqlite" in missing.stderr
    assert "hub: using var/lab/hub.toml" in missing.stderr
    named = _hub("status", "--db", f"sqlite:///{tmp_path}/none.sqlite", cwd=tmp_path / "var", env={ENV_VAR: str(path)})
    assert f"hub: using {path} (from {ENV_VAR})" in named.stderr and "none.sqlite" in named.stderr
    bad = _hub("status", cwd=tmp_path, env={ENV_VAR: str(tmp_path / "nope.toml")})
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_a_selftest_result_reads_as_device_lines() -> None:
    result = messages.CommandResult(cmd_id="c1", ok=False, detail={"devices": [
        {"device": "card_reader", "ok": True, "code": "ok", "hint": "", "detail": "test card read"},
        {"device": "scanner", "ok": False, "code": "scanner-unplugged", "hint": "plug the scanner in",
         "detail": "port=/dev/ttyUSB0"},
    ]})  # fmt: skip
    lines = describe_result("k1", "selftest", result).splitlines()
    assert lines[0] == "k1: self-test FAILED, 1 of 2 devices"
    assert lines[1].split() == ["PASS", "card_reader", "test", "card", "read"]
    assert lines[2].split()[:3] == ["FAIL", "scanner", "scanner-unplugged:"] and "plug the scanner in" in lines[2]
    assert "port=/dev/ttyUSB0" in lines[3]
    on = describe_result("k1", "maintenance_on", messages.CommandResult(cmd_id="c", ok=True, detail={"maintenance": True}))
    assert on.startswith("k1: maintenance mode on") and "maintenance_off" in on
    refused = messages.CommandResult(cmd_id="c", ok=False, detail={"error": "updates-need-signed-commands",
                                                                  "hint": "set [hub] hub_public_key"})  # fmt: skip
    assert describe_result("k1", "update", refused) == (
        "k1: update refused: updates-need-signed-commands (hint: set [hub] hub_public_key)")  # fmt: skip


def test_a_kiosk_that_does_not_answer_is_named_with_what_to_check(
    tmp_path: Path, lab: Lab, broker: TlsMosquittoProcess
) -> None:
    config = lab.operator_config(broker.url, f"sqlite:///{tmp_path}/hub.sqlite")
    out = _hub("--config", str(config), "command", "nobody-here", "selftest", "--timeout", "1", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "hub: nobody-here did not answer selftest within 1 s" in out.stderr
    assert f"uses the broker at {broker.url}" in out.stderr and "python -m hub status" in out.stderr
    assert "hub: using" not in out.stderr  # --config named: nothing found by default
