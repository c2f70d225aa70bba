"""`python -m hub status` for a city's fleet: a summary line, and `--problems` for the
few kiosks of 1,000 that need a technician (hub/cli/fleet.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract import messages
from hub.__main__ import main
from hub.cli.fleet import fleet_summary, needs_attention, problems
from hub.ledger.fleet_records import FleetRow
from hub.ledger.ledger import Ledger

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _row(kiosk_id: str, state: str = "online", seen_ago_s: float = 5, **extra: object) -> FleetRow:
    values: dict[str, object] = {
        "kiosk_id": kiosk_id, "state": state, "library_id": "capital", "firmware": "1.0",
        "last_seen": NOW - timedelta(seconds=seen_ago_s), "journal_pending": 0, "faults": [], "telemetry": None,
        **extra,
    }  # fmt: skip
    return FleetRow(**values)  # type: ignore[arg-type]


def test_each_reason_for_attention_is_named() -> None:
    assert problems(_row("k"), NOW) == []
    assert problems(_row("k", state="offline"), NOW) == ["offline"]
    assert problems(_row("k", seen_ago_s=600), NOW) == ["silent"]
    assert problems(_row("k", faults=["printer:paper_out"]), NOW) == ["faults"]
    assert problems(_row("k", flags=("clock_off",), clock_offset_s=95.0), NOW) == ["flags", "clock"]
    assert problems(_row("k", open_exceptions=2, waiting=1), NOW) == ["exceptions", "waiting"]
    assert problems(_row("k", clock_offset_s=1.5), NOW) == []


def test_the_summary_counts_the_whole_fleet_by_state() -> None:
    rows = [_row(f"k{i:04d}") for i in range(996)]
    rows += [_row("k-off", state="offline"), _row("k-silent", seen_ago_s=900), _row("k-fault", faults=["chute:jam"])]
    assert fleet_summary(rows, NOW) == (
        "999 kiosks: 997 online, 1 offline, 1 silent; 3 need attention (python -m hub status --problems)"
    )
    assert [r.kiosk_id for r in needs_attention(rows, NOW)] == ["k-off", "k-silent", "k-fault"]
    assert fleet_summary(rows[:2], NOW) == "2 kiosks: 2 online; none needs attention"
    assert fleet_summary([], NOW) == "0 kiosks"


def test_status_problems_shows_only_those_kiosks_and_ends_with_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no operator config found by default
    db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    now = datetime.now(UTC)
    with Ledger.open(db) as led:
        for i in range(40):
            state = "offline" if i == 7 else "online"
            led.record_state(f"fleet-{i:02d}", messages.KioskState(state=state, firmware="1.0", library_id="capital", at=now), now)
    assert main(["status", "--db", db]) == 0
    full = capsys.readouterr().out.strip().splitlines()
    assert sum(1 for line in full if line.startswith("fleet-")) == 80  # the table and the releases
    assert full[-1] == "40 kiosks: 39 online, 1 offline; 1 needs attention (python -m hub status --problems)"
    assert main(["status", "--db", db, "--problems"]) == 0
    only = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in only if line.startswith("fleet-")] == ["fleet-07", "fleet-07"]
    assert only[-1] == full[-1]
