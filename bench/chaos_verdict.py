"""The chaos soak's verdict: what must hold once the kiosks and the ILS queue have
drained, whatever was killed on the way (README: a kiosk that loses its network or its
power loses no transaction, and the ledger keeps each once; docs/ordering.md).

Each invariant is checked against what the processes left on disk, never against what
the soak believes it did:

    once        every row any kiosk journal holds is in the ledger exactly once
    acked       no journal row is left unacked
    told        every book's and reader's final ledger state is what readers were last
                told (kiosk_tools.told_audit, from the journals)
    ils         every call the hub owed Dongcheng's system was delivered, or is a
                conflict with a staff exception naming its reason, or superseded by a
                later call about the same book (hub/ledger/ils_queue.py); none left queued;
                and that system's own state of each of its books is what readers were
                last told (charged when lent)
    crashes     no hub worker died but those killed on purpose, each stopped cleanly at
                the end, and no traceback in a worker's or kiosk's log that no fault
                explains (the database's own outage errors, when it was crashed)
    privacy     no whole card number in any log (workers, kiosks, broker), as
                tests/e2e/test_log_privacy.py checks for one visit
    faults      every fault kind asked for was injected (the soak proved something)

What a caller may rely on: `judge()` only reads (journals read-only, the ledger through
`Ledger`); `Verdict.lines()` names every broken invariant with up to five examples.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hub.ledger.ledger import Ledger
from kiosk_tools.told_audit import audit, journal_events, known_cards, last_told

INVARIANTS = ("once", "acked", "told", "ils", "crashes", "privacy", "faults")
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Verdict:
    txns: int = 0  # rows in the kiosks' journals
    committed_once: int = 0
    books: int = 0
    readers: int = 0
    ils_calls: Counter[str] = field(default_factory=Counter)  # by state
    exceptions: Counter[str] = field(default_factory=Counter)  # staff exceptions by reason
    broken: dict[str, list[str]] = field(default_factory=dict)  # invariant -> examples

    @property
    def ok(self) -> bool:
        return not self.broken

    def fail(self, invariant: str, example: str) -> None:
        self.broken.setdefault(invariant, []).append(example)

    def lines(self) -> list[str]:
        out = [
            f"txns in journals {self.txns}, committed once {self.committed_once}; books {self.books}, "
            f"readers {self.readers}; ILS calls {dict(self.ils_calls)}; staff exceptions {dict(self.exceptions)}"
        ]
        for invariant in INVARIANTS:
            examples = self.broken.get(invariant)
            if examples is None:
                out.append(f"  ok     {invariant}")
                continue
            out.append(f"  BROKEN {invariant}: {len(examples)}")
            out += [f"           {e}" for e in examples[:5]]
        out.append("VERDICT: " + ("PASS" if self.ok else "FAIL (" + ", ".join(self.broken) + ")"))
        return out


def judge(db_url: str, journals: list[Path], logs: dict[str, Path], exit_codes: dict[str, int | None],
          unplanned_deaths: list[str], cards: list[str], ils_state: Path | None = None,
          expected_errors: tuple[str, ...] = ()) -> Verdict:  # fmt: skip
    """Every invariant, from the ledger at `db_url`, the kiosks' journal files, the logs
    (name -> file), each worker's exit code at the final stop (None: it was not
    running), the workers seen dead without being killed, the readers' card numbers and
    the member system's own state file (`ils_sim --state`: its books' final states).
    `expected_errors`: exceptions a fault explains (e.g. `psycopg.OperationalError` when
    the database was crashed on purpose: the drainer logs that outage with its
    traceback, by design); a traceback ending in any other is a crash."""
    verdict = Verdict()
    with Ledger.open(db_url) as led:
        events = [e for path in journals for e in journal_events(path, known_cards(led))]
        txn_ids = [e.txn_id for e in events]
        verdict.txns = len(txn_ids)
        for txn_id, n in sorted(led.ledger_counts(txn_ids).items()):
            if n == 1:
                verdict.committed_once += 1
            else:
                verdict.fail("once", f"txn {txn_id} is in the ledger {n} times")
        told = last_told(events)
        report = audit(led, told)
        if ils_state is not None:
            _judge_ils_books(ils_state, told, verdict)
        verdict.books, verdict.readers = report.books, report.readers
        for line in report.books_wrong + report.readers_wrong:
            verdict.fail("told", line)
        verdict.exceptions = Counter(row.reason for row in led.exceptions())
        _judge_ils(led, verdict)
    for path in journals:
        for txn_id, status in _unacked(path):
            verdict.fail("acked", f"{path.stem}: row {txn_id} left {status}")
    for name in unplanned_deaths:
        verdict.fail("crashes", f"hub worker {name} died without being killed")
    for name, code in exit_codes.items():
        if code != 0:
            verdict.fail("crashes", f"hub worker {name} ended with exit code {code} at the final stop")
    for name, path in sorted(logs.items()):
        text = path.read_text(encoding="utf-8", errors="replace")
        unexpected = [t for t in tracebacks(text) if not t.startswith(expected_errors or ("\0",))]
        if unexpected:
            verdict.fail("crashes", f"{name}'s log has {len(unexpected)} traceback(s) no fault explains, first: "
                         f"{unexpected[0]}")  # fmt: skip
        leaked = sorted({card for card in cards if card in text})
        if leaked:
            verdict.fail("privacy", f"{name}'s log holds {len(leaked)} whole card number(s) ({path})")
    return verdict


def tracebacks(text: str) -> list[str]:
    """The exception line ending each traceback in a log, e.g. "KeyError: 'x'"."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(TRACEBACK):
            end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j][0].isspace()), None)
            found.append(lines[end] if end is not None else "(cut off)")
    return found


def _judge_ils(led: Ledger, verdict: Verdict) -> None:
    excepted = {row.txn_id for row in led.exceptions()}
    for call_id, op, item, state, last_error, txn_id in led.ils_outcomes():
        verdict.ils_calls[state] += 1
        if state == "delivered":
            continue
        if state == "conflict" and last_error and (txn_id or "-") in excepted:
            continue
        if state == "superseded" and last_error:  # the system was already past it, and why is kept
            continue
        why = f"({last_error})" if last_error else ""
        verdict.fail("ils", f"call {call_id} {op} {item} for txn {txn_id}: {state} {why}".rstrip())


def _judge_ils_books(state_file: Path, told: dict[str, str | None], verdict: Verdict) -> None:
    """The member's system must end where readers were told too: a book of its own last
    told lent is charged there, one last told returned is not."""
    items = json.loads(state_file.read_text(encoding="utf-8"))["items"]
    for item, reader in sorted(told.items()):
        if item not in items:
            continue  # not one of that system's books
        charged = items[item]["status"] == "charged"
        if charged != (reader is not None):
            verdict.fail("ils", f"book {item}: told {'lent' if reader else 'returned'}; its own system has it "
                         f"{items[item]['status']} ({items[item]['patron'] or 'no patron'})")  # fmt: skip


def _unacked(path: Path) -> list[tuple[str, str]]:
    """(txn id, status) of every row of a journal the hub has not answered (pending or
    sent; acked, rejected and exception rows are settled). Read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT txn_id, status FROM rows WHERE status IN ('pending', 'sent') ORDER BY seq").fetchall()
