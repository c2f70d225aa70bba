"""The base of the readers' errors: each carries the device and a stable code, which is
what a technician sees (docs/fault-codes.md); a subclass names its device and default code."""

from __future__ import annotations


class DeviceError(Exception):
    """A device's error; `device` and `code` are what a technician sees."""

    device = "device"
    code = "device-error"

    def __init__(self, message: str, *, device: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if device is not None:
            self.device = device
        if code is not None:
            self.code = code
