"""`Sip2System`: one member's library system as the client needs it, resolved from
`[sip2.systems.NAME]` (hub/sip2/settings.py) with the password already read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from contract.settings import ALLIANCE_UTC_OFFSET_HOURS, alliance_timezone


@dataclass(frozen=True)
class Sip2System:
    """One [sip2.systems.NAME] entry, resolved."""

    name: str
    host: str
    port: int
    user: str  # CN
    password: str = field(repr=False)  # CO
    institution: str  # AO
    location: str  # CP (login) and the terminal location
    encoding: str = "cp850"
    tls: bool = False
    timeout_s: float = 5.0
    guest_patrons: dict[str, str] = field(default_factory=dict)  # card scheme -> guest id
    tls_ca: Path | None = None  # unset: the system's trust store
    utc_offset_hours: int = ALLIANCE_UTC_OFFSET_HOURS  # the ILS's local time (blank ZZZZ)
    terminal_password: str = field(default="", repr=False)  # AC; most systems want it empty

    @property
    def local_tz(self) -> tzinfo:
        return alliance_timezone(self.utc_offset_hours)

    @property
    def label(self) -> str:
        """How log lines and errors name the system: `east (10.0.0.5:6001)`."""
        return f"{self.name} ({self.host}:{self.port})"
