"""USB barcode scanner in keyboard (HID) mode, read from its Linux input device.

Most USB scanners (Honeywell, Zebra, Newland) ship as a keyboard: each barcode arrives
as key presses followed by Enter. This driver opens the scanner's event device (a
stable `/dev/input/by-id/usb-...-event-kbd` path from the config) and grabs it
exclusively (EVIOCGRAB), so the keystrokes reach neither the console nor Kivy. Key
codes become characters here, with Shift, as on a US keyboard; Enter or keypad Enter
ends a barcode.

What a caller may rely on: a `HidScanner` is a `BarcodeScanner` in every respect but
its transport. It posts the same events (`BarcodeRead`, `BarcodeRejected`,
`DeviceFault`, `DeviceRecovered`), frames and validates lines with the same
`LineFramer` (a key with no character makes its line "non-printable"; a line longer
than `max_length` without Enter is dropped as "overlong" with a log line), reopens the
device with backoff after an unplug (ENODEV), and runs the same self-test.

- Only key-down events type. Key-up and autorepeat (value 2: a key held down) are
  ignored, except that Shift counts while it is down.
- The device is read through a narrow `InputEventSource`: python-evdev where it is
  installed (`EvdevSource`), else `RawEventSource`, which reads the kernel's
  `struct input_event` itself. Tests hand in recorded event streams instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import struct
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from drivers.events import Post
from drivers.scanner import MAX_LINE, BarcodeScanner

log = logging.getLogger("drivers.hid_scanner")

# Linux input event types and key codes (linux/input-event-codes.h: kernel ABI, stable).
EV_KEY = 0x01
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_CAPSLOCK, KEY_NUMLOCK = 58, 69
_CTRL_ALT_META = frozenset({29, 97, 56, 100, 125, 126})  # left/right ctrl, alt, meta

# code -> (plain, shifted) on a US layout
US_KEYMAP: dict[int, tuple[str, str]] = {
    **{code: (plain, shifted) for code, plain, shifted in zip(
        range(2, 12), "1234567890", "!@#$%^&*()", strict=True
    )},
    12: ("-", "_"), 13: ("=", "+"),
    **{code: (ch, ch.upper()) for code, ch in zip(range(16, 26), "qwertyuiop", strict=True)},
    26: ("[", "{"), 27: ("]", "}"),
    **{code: (ch, ch.upper()) for code, ch in zip(range(30, 39), "asdfghjkl", strict=True)},
    39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"), 43: ("\\", "|"),
    **{code: (ch, ch.upper()) for code, ch in zip(range(44, 51), "zxcvbnm", strict=True)},
    51: (",", "<"), 52: (".", ">"), 53: ("/", "?"), 57: (" ", " "),
    # The keypad (some scanners type digits there): the same with or without Shift.
    55: ("*", "*"), 74: ("-", "-"), 78: ("+", "+"), 83: (".", "."), 98: ("/", "/"),
    **{code: (d, d) for code, d in zip((71, 72, 73, 75, 76, 77, 79, 80, 81, 82), "7894561230", strict=True)},
}  # fmt: skip

_NOT_A_CHARACTER = b"\x00"  # makes the line "non-printable" in the LineFramer


class KeystrokeDecoder:
    """Key events → the bytes a serial scanner would have sent for them (pure).

    Characters come out as ASCII, Enter as CR, and a key down that has no character
    (a function key, or any key while Ctrl, Alt or Meta is held) as a NUL byte, which
    the `LineFramer` rejects with its line. Caps Lock flips letters only.
    """

    def __init__(self, keymap: dict[int, tuple[str, str]] | None = None) -> None:
        self.keymap = US_KEYMAP if keymap is None else keymap
        self._shift: set[int] = set()
        self._held: set[int] = set()  # ctrl, alt, meta
        self._capslock = False

    def feed(self, events: Iterable[tuple[int, int, int]]) -> bytes:
        """`events` as (type, code, value) triples; returns the bytes they typed."""
        out = bytearray()
        for ev_type, code, value in events:
            if ev_type != EV_KEY:
                continue  # EV_SYN, EV_MSC (scan codes), EV_LED: nothing typed
            out += self._key(code, value)
        return bytes(out)

    def reset(self) -> None:
        """Forget held modifiers (the device was reopened: its key-ups were lost)."""
        self._shift.clear()
        self._held.clear()

    def _key(self, code: int, value: int) -> bytes:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT) or code in _CTRL_ALT_META:
            held = self._shift if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT) else self._held
            if value == KEY_UP:
                held.discard(code)
            elif value == KEY_DOWN:
                held.add(code)
            return b""
        if value != KEY_DOWN:
            return b""  # key up, or autorepeat of a key held down
        if code == KEY_CAPSLOCK:
            self._capslock = not self._capslock
            return b""
        if code == KEY_NUMLOCK:
            return b""
        if code in (KEY_ENTER, KEY_KPENTER):
            return b"\r"
        chars = self.keymap.get(code)
        if chars is None or self._held:
            return _NOT_A_CHARACTER
        char = chars[1] if self._shift else chars[0]
        if self._capslock and char.isalpha():
            char = char.swapcase()
        return char.encode("ascii")


# -- reading the device -------------------------------------------------------------------


class InputEventSource(Protocol):
    """One opened input device. `read` waits at most `timeout_s` and returns the events
    since the last call as (type, code, value), or [] when none came; it raises OSError
    (ENODEV) when the device has gone. `close` releases the grab and the device."""

    def read(self, timeout_s: float) -> list[tuple[int, int, int]]: ...
    def close(self) -> None: ...


OpenInput = Callable[[str], InputEventSource]


class EvdevSource:
    """An input device through python-evdev, grabbed so no one else sees its keys."""

    def __init__(self, path: str, *, grab: bool = True, device: Any = None) -> None:
        """`device`: an already opened `evdev.InputDevice` (or a look-alike, in tests)."""
        if device is None:
            import evdev  # the backend is chosen when the device opens (STYLE.md)

            device = evdev.InputDevice(path)
        self.path = path
        self._device = device
        try:
            if grab:
                self._device.grab()  # EBUSY: another program (often Kivy) grabbed it first
        except BaseException:
            self._device.close()
            raise

    def read(self, timeout_s: float) -> list[tuple[int, int, int]]:
        ready, _, _ = select.select([self._device.fd], [], [], timeout_s)
        if not ready:
            return []
        try:
            return [(e.type, e.code, e.value) for e in self._device.read()]
        except BlockingIOError:
            return []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._device.ungrab()
        with contextlib.suppress(OSError):
            self._device.close()


# struct input_event: struct timeval (two longs), __u16 type, __u16 code, __s32 value.
# 24 bytes on a 64-bit kernel such as the Pi's, 16 on a 32-bit one.
INPUT_EVENT = struct.Struct("@llHHi")
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)


class RawEventSource:
    """The same without python-evdev: the kernel's `struct input_event` read from the
    device file, and EVIOCGRAB by ioctl. Also reads a recorded stream from a pipe (pass
    `grab=False`); the end of the stream reads as the device going away."""

    def __init__(self, path: str, *, grab: bool = True) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if grab:
                fcntl.ioctl(self._fd, EVIOCGRAB, 1)
        except BaseException:
            os.close(self._fd)
            raise
        self._grabbed = grab
        self._pending = b""

    def read(self, timeout_s: float) -> list[tuple[int, int, int]]:
        if self._fd < 0:
            raise OSError(errno.EBADF, "closed")
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            return []
        try:
            data = os.read(self._fd, INPUT_EVENT.size * 64)
        except BlockingIOError:
            return []
        if not data:
            raise OSError(errno.ENODEV, f"{self.path}: end of the event stream")
        data = self._pending + data
        whole = len(data) - len(data) % INPUT_EVENT.size
        self._pending = data[whole:]
        return [
            (ev_type, code, value)
            for _sec, _usec, ev_type, code, value in INPUT_EVENT.iter_unpack(data[:whole])
        ]

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        if self._grabbed:
            with contextlib.suppress(OSError):
                fcntl.ioctl(fd, EVIOCGRAB, 0)
        with contextlib.suppress(OSError):
            os.close(fd)


def open_input_device(path: str) -> InputEventSource:
    """Open and grab `path` with python-evdev, or with the raw reader where evdev is
    not installed (it builds a C extension; the raw reader needs nothing)."""
    try:
        import evdev  # noqa: F401
    except ImportError:
        log.info("python-evdev is not installed: reading %s with the raw event reader", path)
        return RawEventSource(path)
    return EvdevSource(path)


def pack_events(events: Iterable[tuple[int, int, int]], *, sec: int = 0) -> bytes:
    """Recorded events as the kernel writes them (for tests and for replaying a capture)."""
    return b"".join(INPUT_EVENT.pack(sec, i, t, c, v) for i, (t, c, v) in enumerate(events))


# -- the scanner ---------------------------------------------------------------------------


class HidScanner(BarcodeScanner):
    """A keyboard-mode scanner on `path`, posting what it types like a serial scanner.

    `open_input` opens the device (default: `open_input_device`, evdev with a grab);
    tests and the simulator pass their own. See the module docstring."""

    kind = "hid"

    def __init__(
        self,
        path: str,
        post: Post,
        *,
        source: str = "desk",
        max_length: int = MAX_LINE,
        open_input: OpenInput | None = None,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 5.0,
        partial_line_timeout_s: float = 0.5,
    ) -> None:
        super().__init__(
            path,
            post,
            suffix="CR",
            source=source,
            max_length=max_length,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            partial_line_timeout_s=partial_line_timeout_s,
        )
        self._open_input = open_input or open_input_device
        self._decoder = KeystrokeDecoder()

    def _open(self) -> Any:
        source = self._open_input(self.port)
        self._decoder.reset()
        return source

    def _read_bytes(self, port: Any) -> bytes:
        return self._decoder.feed(port.read(0.05))
