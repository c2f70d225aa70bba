"""KioskRuntime's promise to the reader: the journal row is durable before the view that
tells the reader, and a journal that cannot be written shows out of service and tells
the reader nothing false.

The journal is the real SQLite journal; a full disk is made real with SQLite's
`max_page_count`. The hub link and the chute's outputs are recording stand-ins: what is
under test is the shell's order of effects, not the link or the drivers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from contract.barcodes import make_item_barcode
from contract.messages import Response
from drivers.events import BarcodeRead, BookEntered, BookPassed
from firmware.core.config import CoreConfig
from firmware.core.events import HubAnswered, LinkChanged
from firmware.journal import Journal, JournalError
from firmware.runtime import KioskRuntime
from firmware.view import KioskView
from tests.firmware.test_journal import ids, make_txn

XICHENG = make_item_barcode("0102", 9)
OTHER = make_item_barcode("0102", 10)
MEMBERS = MappingProxyType({"0002": "capital", "0102": "xicheng"})


class RecordingOutputs:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def set_route(self, route: str) -> None:
        self.calls.append(("route", route))

    def show_status(self, status: str) -> None:
        self.calls.append(("led", status))

    def beep(self, pattern: str) -> None:
        self.calls.append(("beep", pattern))


class RecordingDevices:
    def __init__(self) -> None:
        self.outputs = RecordingOutputs()


class AnsweringLink:
    """Answers every return_route at once, as the hub would: the book goes home."""

    def __init__(self) -> None:
        self.runtime: KioskRuntime | None = None
        self.calls: list[str] = []

    def request(self, corr_id: str, request_model: object) -> None:
        self.calls.append(f"request:{getattr(request_model, 'op', '?')}")
        assert self.runtime is not None
        response = Response(route="transfer", route_library="xicheng", allowed=True)
        self.runtime.post(HubAnswered(corr_id, response))

    def notify_new_txn(self) -> None:
        self.calls.append("notify")

    def publish_state(self, state: str) -> None:
        self.calls.append(f"state:{state}")

    def publish_command_result(self, result: object) -> None:
        self.calls.append("cmd_result")


def make_runtime(journal: Journal) -> tuple[KioskRuntime, AnsweringLink]:
    link = AnsweringLink()
    runtime = KioskRuntime(
        CoreConfig(library_id="capital", institution_members=MEMBERS),
        RecordingDevices(),  # type: ignore[arg-type]
        journal,
        link=link,
    )
    link.runtime = runtime
    return runtime, link


def play(runtime: KioskRuntime, *events: object) -> None:
    """Step each event and everything it makes the link answer, on this thread."""
    for event in events:
        runtime.handle(event)
        while not runtime.events.empty():
            runtime.handle(runtime.events.get_nowait())


def drop(runtime: KioskRuntime, barcode: str, at: float) -> None:
    play(
        runtime,
        BookEntered(at),
        BarcodeRead(barcode, source="chute"),
        BookPassed(at=at + 0.3, transit_ms=300),
    )


def fill_to_the_brim(path: Path) -> tuple[Journal, list[str]]:
    """A journal on a disk with room for no more rows: earlier rows fill it for real."""
    with Journal.open(path) as journal:
        pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
    journal = Journal.open(path, max_page_count=pages + 2)
    kept: list[str] = []
    with pytest.raises(JournalError):
        for txn_id in ids(10_000):
            journal.record(make_txn(txn_id))
            kept.append(txn_id)
    return journal, kept


def rows_on_disk(path: Path) -> list[str]:
    """What another process would find in the journal file right now."""
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT txn_id FROM rows ORDER BY seq")]


def returned(view: KioskView, barcode: str) -> bool:
    return any(i.barcode == barcode and i.status == "returned" for i in view.items)


def test_the_return_is_on_disk_before_the_view_tells_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        runtime, link = make_runtime(journal)
        seen_on_disk_when_shown: list[list[str]] = []

        def on_view(view: KioskView) -> None:
            if returned(view, XICHENG) and not seen_on_disk_when_shown:
                seen_on_disk_when_shown.append(rows_on_disk(path))

        runtime.on_view(on_view)
        play(runtime, LinkChanged(True))
        drop(runtime, XICHENG, at=1.0)

        assert returned(runtime.view, XICHENG)
        [rows] = seen_on_disk_when_shown
        assert len(rows) == 1, "the view said 'returned' before the row was committed"
        assert link.calls.index("notify") > link.calls.index("request:return_route")


def test_a_journal_that_cannot_be_written_shows_out_of_service_and_no_false_return(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    journal, earlier = fill_to_the_brim(path)
    with journal:
        runtime, link = make_runtime(journal)
        views: list[KioskView] = []
        runtime.on_view(views.append)
        play(runtime, LinkChanged(True))

        drop(runtime, XICHENG, at=1.0)

        assert rows_on_disk(path) == earlier
        assert not any(returned(v, XICHENG) for v in views), "a return was shown that was never kept"
        assert runtime.view.screen == "out_of_service"
        assert runtime.view.out_of_service_code == "journal-disk-full"
        assert "notify" not in link.calls  # nothing was offered to the hub

        # A later book is refused at the door too: nothing more is promised.
        drop(runtime, OTHER, at=5.0)
        assert not any(returned(v, OTHER) for v in views)
        assert runtime.view.screen == "out_of_service"
        assert rows_on_disk(path) == earlier


def test_the_runtime_keeps_serving_after_the_failure(tmp_path: Path) -> None:
    """A failed write is a fault on screen, not a dead kiosk: the event loop still steps."""
    path = tmp_path / "journal.sqlite3"
    journal, _earlier = fill_to_the_brim(path)
    with journal:
        runtime, _link = make_runtime(journal)
        play(runtime, LinkChanged(True))
        drop(runtime, XICHENG, at=1.0)
        before = runtime.state
        play(runtime, LinkChanged(False))
        assert runtime.state is not before
        assert runtime.view.screen == "out_of_service"
