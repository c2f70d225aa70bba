"""Flags the hub raises on a kiosk show in the fleet status, counted, until cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract import messages
from hub.cli.fleet import fleet_table
from hub.ledger import kiosk_flags
from hub.ledger.ledger import Ledger

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_raised_flag_is_counted_and_shown_beside_the_kiosk(tmp_path):
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    ledger.record_state("k1", messages.KioskState(state="online", library_id="capital"), NOW)
    ledger.raise_kiosk_flag("k1", kiosk_flags.CLOCK_OFF, "clock +400 days", NOW)
    ledger.raise_kiosk_flag("k1", kiosk_flags.CLOCK_OFF, "clock +401 days", NOW + timedelta(minutes=1))
    (flag,) = ledger.kiosk_flags("k1")
    assert (flag.count, flag.detail, flag.raised_at) == (2, "clock +401 days", NOW)
    (row,) = ledger.fleet()
    assert row.flags == ("clock_off",)
    assert "clock_off" in fleet_table([row], NOW).splitlines()[1]
    assert row.as_json()["flags"] == ["clock_off"]
    assert ledger.clear_kiosk_flag("k1") == 1
    assert ledger.fleet()[0].flags == ()


def test_an_older_ledger_gets_the_flags_table_at_open(tmp_path):
    path = tmp_path / "hub.sqlite"
    ledger = Ledger.open(f"sqlite:///{path}")
    with ledger.db.write():
        ledger.db.execute("DROP TABLE kiosk_flags")
    ledger.close()
    again = Ledger.open(f"sqlite:///{path}")
    assert again.kiosk_flags() == []


def test_a_flagged_kiosk_that_never_reported_is_shown_too(tmp_path):
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    ledger.record_state("k1", messages.KioskState(state="online", library_id="capital"), NOW)
    ledger.raise_kiosk_flag("k0-walker", kiosk_flags.CARD_WALKING, "40 unknown cards in 10 min", NOW)
    rows = ledger.fleet()
    assert [(r.kiosk_id, r.state, r.flags) for r in rows] == [("k0-walker", "unknown", ("card_walking",)), ("k1", "online", ())]
    assert "card_walking" in fleet_table(rows, NOW).splitlines()[1]
