"""The HAL's book-security switch: what the kiosk asks of any unit that arms and
disarms a book's security, whatever the technology.

An EM desensitiser/resensitiser (drivers.em_security) implements it today; the RFID
security switch (AFI and/or EAS on the book's tag, issue 18) implements the same two
calls later. A switch never raises for a unit's fault and never blocks past its own
timeout: the shell runs it on the core thread, between the loan's journal write and
the next effect, and must hear "done" or a fault code promptly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.diagnostics import DiagResult

# Fault codes (docs/fault-codes.md; hints in drivers.diagnostics.FAULT_HINTS).
NO_ANSWER = "security-no-answer"  # the unit did not answer in time
REFUSED = "security-refused"  # the unit answered that it did not switch
NO_CONFIRM = "security-no-confirm"  # a GPIO unit's confirm line never came
IO_ERROR = "security-io"  # the port or pin could not be used at all


@dataclass(frozen=True)
class SwitchResult:
    """The outcome of one secure/unsecure: ok, or a fault code with a detail."""

    ok: bool
    code: str = "ok"
    detail: str = ""

    @classmethod
    def done(cls, detail: str = "") -> SwitchResult:
        return cls(True, "ok", detail)

    @classmethod
    def fault(cls, code: str, detail: str) -> SwitchResult:
        return cls(False, code, detail)

    def as_diag(self, device: str) -> list[DiagResult]:
        """This switch's outcome as the self-test's line for `device`."""
        if self.ok:
            return [DiagResult.passed(device, self.detail)]
        return [DiagResult.fault(device, self.code, self.detail)]


class SecuritySwitch(Protocol):
    """Arm (`secure`) or disarm (`unsecure`) the security of the book `item` (its
    barcode; an EM unit acts on whatever book lies on it, an RFID switch addresses the
    tag carrying `item`)."""

    def secure(self, item: str) -> SwitchResult: ...
    def unsecure(self, item: str) -> SwitchResult: ...
    def diagnose(self) -> list[DiagResult]: ...
    def close(self) -> None: ...


class TagSecuritySwitch(Protocol):
    """Arm or disarm the security carried by one RFID tag, addressed by its UID (never
    an unaddressed write: that would reach every tag on the pad). AFI and/or EAS, per
    the library's convention (drivers.rfid_security)."""

    def secure_tag(self, uid: bytes) -> SwitchResult: ...
    def unsecure_tag(self, uid: bytes) -> SwitchResult: ...
