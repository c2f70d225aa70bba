"""The handler signature every flow module shares."""

from __future__ import annotations

from firmware.core.effects import Effect
from firmware.core.state import State

Step = tuple[State, tuple[Effect, ...]]
