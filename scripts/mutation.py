"""`make mutation`: mutation testing (mutmut) of the rooms whose tests must be strong.

Each room is mutated on its own, in its own scratch copy under test-artifacts/mutation/ROOM/
(gitignored), and its mutants are tested against that room's fast unit tests only, so a
run takes minutes and a room's score says what *its* tests catch. Prints killed / total
per room and writes every survivor's diff to test-artifacts/mutation/ROOM/survivors.txt.

    python scripts/mutation.py [ROOM ...] [--jobs N] [--again [--only GLOB ...]]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "test-artifacts" / "mutation"
# What a room's tests may import or read: copied beside the mutated room.
PACKAGES = [
    "contract", "drivers", "firmware", "kiosk_ui", "hal_sim", "hub", "kiosk_tools",
    "ils_sim", "updater",
]
KILLED = {1, 3, 36, -24, 24, 152, 255}  # a failing test, pytest's own error, or a timeout


@dataclass(frozen=True)
class Room:
    """A part of the code, mutated alone, and the fast tests that must catch its mutants."""

    sources: tuple[str, ...]  # paths or globs, relative to the repository
    tests: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()


ROOMS = {
    # Not the Hypothesis property test: its examples are drawn anew each run, so a
    # mutant's verdict would change from run to run (and it takes seconds a mutant).
    "core": Room(
        ("firmware/core",), ("tests/firmware/test_machine_*.py",),
        ("-k", "not random_event_sequences"),
    ),
    "journal": Room(
        ("firmware/journal.py",),
        ("tests/firmware/test_journal.py", "tests/firmware/test_runtime_journal.py",
         "tests/security/test_at_rest.py"),
        ("-k", "journal or acked_row or card_key"),
    ),
    # The hub's commit path on SQLite (the same SQL runs on PostgreSQL in `make test`);
    # tests that need a broker or a PostgreSQL server are left to `make test`.
    "commit": Room(
        ("hub/ledger/commit*.py", "hub/ledger/ordering.py", "hub/ledger/order_caps.py",
         "hub/ledger/txn_checks.py"),
        ("tests/hub/ledger/test_ledger.py", "tests/hub/ledger/test_renewals.py", "tests/hub/ledger/test_ordering.py",
         "tests/security/test_txn_checks.py", "tests/security/test_bounds.py",
         "tests/security/test_implausible_returns.py", "tests/security/test_hub_clock.py"),
        ("-k", "not postgresql and not secure_broker"),
    ),
    # The contract's barcodes, check digits and card schemes are tested beside their users.
    "contract": Room(
        ("contract",), ("tests/contracts", "tests/drivers/test_barcodes.py", "tests/hub/rules/test_registry.py"),
    ),
}


def _expand(patterns: tuple[str, ...]) -> list[str]:
    """Globs to the paths they match, refusing one that matches nothing (a renamed file
    would otherwise silently drop out of the score)."""
    found: list[str] = []
    for pattern in patterns:
        hits = sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern))
        if not hits:
            raise SystemExit(f"mutation: {pattern!r} matches nothing in {REPO}")
        found += hits
    return found


def _prepare(name: str, room: Room) -> Path:
    """A fresh scratch directory that looks like the repository to mutmut, whose
    pyproject.toml carries this room's [tool.mutmut] settings."""
    work = OUT / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for entry in [*PACKAGES, "tests", "deploy", "scenarios"]:
        (work / entry).symlink_to(REPO / entry)
    sources = _expand(room.sources)
    settings = {
        "source_paths": sources,
        "also_copy": [*PACKAGES, "deploy", "scenarios"],
        "pytest_add_cli_args_test_selection": _expand(room.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:xdist", *room.pytest_args],
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(pyproject + "\n".join(lines) + "\n", encoding="utf-8")
    return work


def _verdicts(work: Path) -> dict[str, tuple[int | None, str]]:
    """Every mutant's exit code and source file, from the .meta files mutmut leaves
    beside the mutants."""
    mutants = work / "mutants"
    codes: dict[str, tuple[int | None, str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = str(meta.relative_to(mutants)).removesuffix(".meta")
        for name, code in json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"].items():
            codes[name] = (code, source)
    return codes


# Run inside a room's scratch directory: one process prints every survivor's diff (a
# `mutmut show` each would start Python once a survivor).
_SHOW = """
import sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for line in sys.stdin:
    name, path = line.split()
    print(f"# {name}\\n{get_diff_for_mutant(name, path=path).rstrip()}\\n", flush=True)
"""


# A mutant that only changes the letter case of SQL (keywords and names; its quoted
# values untouched) or of a codec's name behaves as the original: counted apart as
# equivalent, never as killed.
_SQL = re.compile(
    r"""["'](?i:\s*(select|insert|update|delete|create|pragma|from|where|and|or|order|values"""
    r"""|set|group|on|returning|limit|join|into|not|exists|having|offset|union|left|inner)\b)"""
)
_LITERALS = re.compile(r"'[^']*'")


def _equivalent(diff: str) -> bool:
    """True for a mutant that changes nothing SQLite or Python can tell apart."""
    minus = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    if len(minus) != 1 or len(plus) != 1 or minus[0] == plus[0]:
        return False
    old, new = minus[0], plus[0]
    if old.lower() != new.lower():
        return False
    if "utf-8" in old.lower() and re.sub("(?i)utf-8", "", old) == re.sub("(?i)utf-8", "", new):
        return True
    return bool(_SQL.search(old)) and _LITERALS.findall(old) == _LITERALS.findall(new)


def _diffs(work: Path, mutants: dict[str, str]) -> dict[str, str]:
    """Each mutant's diff (name -> text), for a person deciding whether a test is missing."""
    shown = subprocess.run(
        [sys.executable, "-c", _SHOW], cwd=work, capture_output=True, check=True, text=True,
        input="".join(f"{name} {path}\n" for name, path in sorted(mutants.items())),
    ).stdout
    blocks = [b for b in shown.split("\n# ") if b.strip()]
    return {b.removeprefix("# ").split("\n", 1)[0]: "# " + b.removeprefix("# ") for b in blocks}


@dataclass(frozen=True)
class Score:
    """One room's result."""

    killed: int
    total: int
    equivalent: int
    others: Counter[str]
    seconds: float

    @property
    def percent(self) -> float:
        counted = self.total - self.equivalent
        return 100.0 * self.killed / counted if counted else 100.0


def run_room(
    name: str, room: Room, jobs: int, *, again: bool = False, only: tuple[str, ...] = ()
) -> Score:
    """Mutate one room, test its mutants, and write the survivors' diffs beside them.
    `again`: test only the last run's survivors, against the tests as they are now; the
    mutants it killed keep their verdict (valid while tests were only added since, and
    the room's code is unchanged: mutmut names mutants by their place in the code).
    `only`: of those, the ones whose names match these globs (the rest stay survivors)."""
    work = OUT / name
    saved = OUT / f"{name}.verdicts.json"  # beside the scratch copy, which a run replaces
    before: dict[str, tuple[int | None, str]] = {}
    if again:
        if not saved.is_file():
            raise SystemExit(f"mutation: no finished run of room {name!r} to test again")
        before = {k: (v[0], v[1]) for k, v in json.loads(saved.read_text(encoding="utf-8")).items()}
    retry = sorted(
        k for k, (code, _src) in before.items()
        if code not in KILLED and (not only or any(fnmatch.fnmatch(k, g) for g in only))
    )
    if before and not retry:
        raise SystemExit(f"mutation: room {name!r} has no survivors to test again")
    work = _prepare(name, room)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    started = time.monotonic()
    log = work / "mutmut.log"
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [mutmut, "run", "--max-children", str(jobs), *retry], cwd=work, stdout=out,
            stderr=subprocess.STDOUT, check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"mutation: mutmut failed on room {name!r}; see {log}")
    return report_room(name, before, retry, time.monotonic() - started)


def report_room(
    name: str, before: dict[str, tuple[int | None, str]] | None = None,
    retry: list[str] | None = None, took: float = 0.0,
) -> Score:
    """Score a room's finished run (merged with `before` but for `retry`), write its
    survivors' and equivalents' diffs and its verdicts."""
    work = OUT / name
    saved = OUT / f"{name}.verdicts.json"
    codes = _verdicts(work)
    if not codes:
        raise SystemExit(f"mutation: no mutants in {work}; run the room first")
    if before:
        if set(codes) != set(before):
            raise SystemExit(f"mutation: room {name!r}'s mutants changed since the last run; "
                             "run it without --again")
        codes.update({k: v for k, v in before.items() if k not in (retry or [])})
    saved.write_text(json.dumps(codes, sort_keys=True), encoding="utf-8")
    alive = {k: src for k, (code, src) in codes.items() if code not in KILLED}
    diffs = _diffs(work, alive)
    same = {k for k, diff in diffs.items() if _equivalent(diff)}
    (work / "survivors.txt").write_text(
        "".join(diffs[k] for k in sorted(diffs) if k not in same), encoding="utf-8")
    (work / "equivalent.txt").write_text(
        "".join(diffs[k] for k in sorted(same)), encoding="utf-8")
    others = Counter(
        "survived" if code == 0 else "no tests" if code in (5, 33) else f"exit {code}"
        for k, (code, _src) in codes.items() if code not in KILLED and k not in same
    )
    return Score(len(codes) - len(alive), len(codes), len(same), others, took)


def main(argv: list[str] | None = None) -> int:
    """Run the rooms asked for (all by default) and print the table of scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rooms", nargs="*", metavar="ROOM",
                        help=f"rooms to mutate (default all: {', '.join(ROOMS)})")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--again", action="store_true",
                        help="test only the last run's survivors again (after adding tests)")
    parser.add_argument("--report", action="store_true",
                        help="no run: score the last run again (e.g. one stopped and resumed)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="with --again: only the survivors whose names match (repeatable)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rooms) - set(ROOMS))
    if unknown:
        parser.error(f"no room {', '.join(unknown)} (rooms: {', '.join(ROOMS)})")
    rows = []
    for name in args.rooms or list(ROOMS):
        if args.report:
            score = report_room(name)
        else:
            score = run_room(name, ROOMS[name], args.jobs, again=args.again, only=tuple(args.only))
        rest = ", ".join(f"{n} {what}" for what, n in sorted(score.others.items())) or "none"
        rows.append(f"{name:<9} {score.killed:>5} / {score.total - score.equivalent:<5} "
                    f"{score.percent:5.1f} %  {score.equivalent:>4}  {score.seconds:6.0f} s  {rest}")
        print(rows[-1], flush=True)
    print("\nroom      killed / total   score  equiv.   time   not killed "
          f"(diffs in {OUT.relative_to(REPO)}/ROOM/survivors.txt)")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
