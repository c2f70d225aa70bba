"""`Sip2System`: one member's library system as the client needs it, resolved from
`[sip2.systems.NAME]` (hub/sip2/settings.py) with the password already read.

TLS is the default: the SIP2 login password (CO) and readers' PINs (AD) cross the link,
and a man in the middle of plain TCP can turn a refused checkout into an approved one.
A system on plain TCP must say `allow_plain = True`; one that does not cannot be built.
"""

from __future__ import annotations

import re
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
    tls: bool = True
    timeout_s: float = 5.0
    guest_patrons: dict[str, str] = field(default_factory=dict)  # card scheme -> guest id
    tls_ca: Path | None = None  # the CA the server must chain to; unset: the trust store
    utc_offset_hours: int = ALLIANCE_UTC_OFFSET_HOURS  # the ILS's local time (blank ZZZZ)
    terminal_password: str = field(default="", repr=False)  # AC; most systems want it empty
    tls_fingerprint: str | None = None  # pinned SHA-256 of the server certificate (hex)
    allow_plain: bool = False  # plain TCP accepted (tls=False): a lab or trusted link only

    def __post_init__(self) -> None:
        if not self.tls and not self.allow_plain:
            raise ValueError(
                f"SIP2 system {self.label}: plain TCP refused (tls off without allow_plain):"
                " it would send the SIP2 password and readers' PINs readable")
        if self.tls_fingerprint is not None:
            object.__setattr__(self, "tls_fingerprint", normal_fingerprint(self.tls_fingerprint))

    @property
    def protection(self) -> str:
        """How the link is protected, as `hub status` shows it."""
        return protection(self.tls, self.tls_ca is not None, self.tls_fingerprint is not None)

    @property
    def local_tz(self) -> tzinfo:
        return alliance_timezone(self.utc_offset_hours)

    @property
    def label(self) -> str:
        """How log lines and errors name the system: `east (10.0.0.5:6001)`."""
        return f"{self.name} ({self.host}:{self.port})"


_HEX64 = re.compile(r"[0-9a-f]{64}")


def normal_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint as 64 lower-case hex digits, from how tools
    print it (`sha256:AB:CD:...`, `SHA256 Fingerprint=AB:CD:...`, or bare hex);
    ValueError otherwise."""
    value = text.strip().lower()
    for prefix in ("sha256 fingerprint=", "sha256:", "sha256="):
        value = value.removeprefix(prefix)
    value = value.replace(":", "").replace(" ", "")
    if not _HEX64.fullmatch(value):
        raise ValueError(f"tls_fingerprint {text!r} is not a SHA-256 fingerprint (64 hex digits)")
    return value


def protection(tls: bool, ca: bool, pinned: bool) -> str:
    """`tls (ca)`, `tls (pinned)`, `tls (ca, pinned)`, `tls (trust store)`, or
    `PLAIN (allow_plain)`: what verifies the member's system, in `hub status`."""
    if not tls:
        return "PLAIN (allow_plain)"
    how = [name for name, used in (("ca", ca), ("pinned", pinned)) if used]
    return f"tls ({', '.join(how) or 'trust store'})"


def plain_warning(label: str) -> str:
    """The warning for a system on plain TCP, at hub start."""
    return (
        f"SIP2 system {label} on plain TCP (allow_plain = true): the SIP2 password and "
        "readers' PINs cross the network readable, and anyone on the path can change "
        "the system's answers (a refused checkout into an approved one); use tls = true"
    )
