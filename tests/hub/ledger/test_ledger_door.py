"""The ledger's tables have one door: nothing outside `hub/ledger/` holds the ledger's
database handle (`Ledger.db`, a `Database`) or runs SQL on it. The ILS leg goes through
`hub.ledger.ils_door.IlsLedger`, tools through `Ledger` methods. Checked by reading the
source (ast), since a handle passed around is not an import that import-linter sees."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Product code outside the ledger wing (tests may look at the real tables: ledger_doors.py).
CHECKED = ("hub", "kiosk_tools", "bench", "scenarios")
# `.db` of the hub's settings and its command line is the ledger's URL, not a handle.
URL_HOLDERS = {"config", "args"}


def _name_of(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def door_breaches(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line what` for each `X.db` (X not a settings object) and each import of
    `Database` in one module."""
    where = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "db" and _name_of(node.value) not in URL_HOLDERS:
            found.append(f"{where}:{node.lineno} {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hub.ledger"):
            found += [f"{where}:{node.lineno} imports Database" for a in node.names if a.name == "Database"]
    return found


def product_modules() -> list[Path]:
    return [
        path
        for top in CHECKED
        for path in sorted((ROOT / top).rglob("*.py"))
        if not path.is_relative_to(ROOT / "hub" / "ledger")
    ]


def test_nothing_outside_the_ledger_holds_its_database() -> None:
    modules = product_modules()
    assert any(path.name == "ils_operations.py" for path in modules)  # the walk found the ILS leg
    breaches = [line for path in modules for line in door_breaches(path)]
    assert breaches == []


def test_the_check_sees_a_handle(tmp_path: Path) -> None:
    """What the check catches, on a module that passes the handle and one that imports it."""
    module = tmp_path / "probe.py"
    module.write_text(
        "from hub.ledger.ledger_sql import Database\n\n\ndef f(ledger, config):\n"
        "    return ledger.db, config.db\n"
    )
    assert door_breaches(module, tmp_path) == ["probe.py:1 imports Database", "probe.py:5 ledger.db"]
