"""A tiny driver around the pure core for tests and scenario runs: keeps the state,
feeds events, remembers every effect and the view after each step.

It does what the shell does in the right order (step, run effects, render) except
that effects are only collected, never run. The test plays the hub link: a request
waits, through any number of ticks, until the test feeds its answer (`answer`) or its
timeout (`time_out`), as the link would; the core never times a request out itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contract.messages import Response
from firmware.core.config import CoreConfig
from firmware.core.effects import Effect, RecordTxn, SendRequest
from firmware.core.events import HubAnswered, HubTimedOut, Tick
from firmware.core.machine import initial_state, render, step
from firmware.core.state import State
from firmware.view import KioskView


@dataclass
class CoreHarness:
    config: CoreConfig = field(default_factory=CoreConfig)
    state: State = field(init=False)
    effects: list[Effect] = field(default_factory=list)
    last: tuple[Effect, ...] = ()
    now: float = 1000.0

    def __post_init__(self) -> None:
        self.state = initial_state(self.config)

    def feed(self, *events: object) -> tuple[Effect, ...]:
        """Step each event; return the effects of all of them."""
        out: list[Effect] = []
        for event in events:
            self.state, effects = step(self.state, event, self.config)
            out.extend(effects)
        self.effects.extend(out)
        self.last = tuple(out)
        return self.last

    def wait(self, seconds: float, wall: datetime | None = None) -> tuple[Effect, ...]:
        """Let time pass in quarter-second ticks, like the shell's heartbeat."""
        out: list[Effect] = []
        end = self.now + seconds
        while self.now < end:
            self.now = min(self.now + 0.25, end)
            out.extend(self.feed(Tick(self.now, wall)))
        self.last = tuple(out)
        return self.last

    @property
    def view(self) -> KioskView:
        return render(self.state, self.config)

    def last_request(self) -> SendRequest:
        return [e for e in self.effects if isinstance(e, SendRequest)][-1]

    def answer(self, **fields: object) -> tuple[Effect, ...]:
        """Answer the most recent request with a Response built from `fields`."""
        return self.feed(HubAnswered(self.last_request().corr_id, Response(**fields)))

    def time_out(self) -> tuple[Effect, ...]:
        """The most recent request got no answer in time: what the link posts then."""
        return self.feed(HubTimedOut(self.last_request().corr_id))

    def records(self, kind: str | None = None) -> list[RecordTxn]:
        return [e for e in self.effects if isinstance(e, RecordTxn) and kind in (None, e.kind)]
