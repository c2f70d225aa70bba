"""`python -m firmware` is the one import in the kiosk that runs up the layers, and it
only hands over: the layer contracts name it once, nothing imports it, and the command
works (docs/architecture.md, "Layer rules, and why")."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIOSK = ("contract", "drivers", "firmware", "kiosk_ui")
THE_EXCEPTION = "firmware.__main__ -> kiosk_tools.cli"


def test_the_only_kiosk_import_a_layer_contract_ignores_is_python_m_firmware() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ignored = [
        rule
        for contract in config["tool"]["importlinter"]["contracts"]
        for rule in contract.get("ignore_imports", [])
        if rule.split(" -> ")[0].split(".")[0] in KIOSK
    ]
    assert ignored == [THE_EXCEPTION]


def test_firmware_main_imports_nothing_but_the_command_line_and_nothing_imports_it() -> None:
    tree = ast.parse((ROOT / "firmware/__main__.py").read_text(encoding="utf-8"))
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] != "__future__"
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert ours - {"sys"} == {"kiosk_tools.cli"}
    for package in (*KIOSK, "kiosk_tools", "hal_sim"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    named = {f"{node.module}.{a.name}" for a in node.names} | {node.module or ""}
                elif isinstance(node, ast.Import):
                    named = {a.name for a in node.names}
                else:
                    continue
                assert "firmware.__main__" not in named, f"{path} imports firmware.__main__"


def test_python_m_firmware_still_runs_the_kiosk_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "firmware", "--help"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "python -m firmware" in done.stdout
