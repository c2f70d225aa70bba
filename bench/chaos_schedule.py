"""The chaos soak's faults, drawn in advance from the seed: a failure is replayed by
running again with the same `--seed`, `--minutes` and `--faults-per-minute` (the
schedule is a pure function of them, printed at the start of every run).

Each fault is a real thing done to a real process (bench.chaos_rig, bench.chaos_kiosk):

    kind     target        what happens                                   `hold_s`
    worker   hub worker    SIGKILL, restarted under its name              until restart
    broker   -             SIGKILL (the first one a clean stop), restart  broker down
    route    kiosk         its route black-holed (packets dropped, no     route dead
                           RST: the kiosk must notice by itself), then up
    power    kiosk         its process SIGKILLed, booted again on the     power off
                           same journal file
    ils      Dongcheng's   `python -m ils_sim` SIGKILLed while the hub's  system down
             system        drainer has calls to make, then restarted
    database PostgreSQL    the private cluster crashed (immediate stop)   database down
                           and started again (only with `--postgres`)

What a caller may rely on: every kind asked for occurs at least once when there are at
least as many faults as kinds; faults are in time order and start within the first
90 % of the making phase, so each ends before the drain.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, replace

KINDS = ("worker", "broker", "route", "power", "ils")
HOLD_S = {  # how long each kind lasts, drawn uniformly from this range
    "worker": (0.1, 2.0), "broker": (0.2, 1.5), "route": (4.0, 20.0), "power": (0.5, 3.0),
    "ils": (3.0, 10.0), "database": (1.0, 4.0),
}  # fmt: skip


@dataclass(frozen=True)
class Fault:
    at_s: float  # from the start of the making phase
    kind: str
    target: int  # which worker or kiosk (an index; 0 where there is only one)
    hold_s: float

    def describe(self, names: list[str] | None = None) -> str:
        who = f" {names[self.target]}" if names else ""
        return f"t+{self.at_s:5.1f}s {self.kind}{who} for {self.hold_s:.1f}s"


def schedule(seed: int, making_s: float, faults: int, kinds: tuple[str, ...], n_workers: int,
             n_kiosks: int) -> list[Fault]:  # fmt: skip
    """`faults` faults over `making_s` seconds, each kind of `kinds` at least once (when
    `faults` allows), the rest drawn at random; targets drawn among `n_workers` workers
    or `n_kiosks` kiosks."""
    rng = random.Random(seed)
    drawn = list(kinds)[:faults]
    rng.shuffle(drawn)
    drawn += [rng.choice(kinds) for _ in range(faults - len(drawn))]
    # The guaranteed ones spread over the phase (each in its own slot), the rest anywhere.
    slots = len(kinds)
    out = []
    for i, kind in enumerate(drawn):
        if i < slots:
            at = (i + rng.uniform(0.1, 0.9)) / slots * 0.9 * making_s
        else:
            at = rng.uniform(0.05, 0.9) * making_s
        low, high = HOLD_S[kind]
        hold = min(rng.uniform(low, high), max(low, 0.95 * making_s - at))
        target = rng.randrange(n_workers) if kind == "worker" else rng.randrange(n_kiosks) if kind in (
            "route", "power") else 0
        out.append(Fault(round(at, 2), kind, target, round(hold, 2)))
    out.sort(key=lambda f: f.at_s)
    # Half the power cuts hit a kiosk whose route is black-holed at that moment, so the
    # cut finds a backlog of rows written and never acked.
    for i, fault in enumerate(out):
        dead = [f.target for f in out if f.kind == "route" and f.at_s < fault.at_s < f.at_s + f.hold_s]
        if fault.kind == "power" and dead and rng.random() < 0.5:
            out[i] = replace(fault, target=dead[-1])
    return out


def as_json(faults: list[Fault]) -> str:
    """One line, to paste into a bug report beside the seed."""
    return json.dumps([asdict(f) for f in faults], separators=(",", ":"))
