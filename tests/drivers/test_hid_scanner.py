"""The USB keyboard-mode (HID) scanner driver, fed recorded key event streams.

Most build machines have no /dev/uinput, so the device is a pipe carrying the kernel's
own 24-byte `struct input_event` records (read by `RawEventSource`), or a python-evdev
look-alike yielding real `evdev.InputEvent`s (read by `EvdevSource`). The uinput test at
the end runs the whole path against a virtual kernel device wherever the kernel has the
uinput driver (as root it makes /dev/uinput when a container's /dev lacks it).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.events import BarcodeRead, BarcodeRejected, DeviceFault, DeviceRecovered
from drivers.hid_scanner import (
    EV_KEY,
    KEY_DOWN,
    KEY_REPEAT,
    KEY_UP,
    US_KEYMAP,
    EvdevSource,
    HidScanner,
    KeystrokeDecoder,
    RawEventSource,
    pack_events,
)
from tests.drivers.device_events import Events
from tests.run_summary import NO_UINPUT_DRIVER

EV_SYN = 0
EV_MSC = 4
SHIFT = 42
ENTER, KPENTER = 28, 96
ITEM = "30101000000018"
CODE_OF = {plain: code for code, (plain, _shifted) in US_KEYMAP.items() if code < 55}
SHIFTED = {
    shifted: code for code, (plain, shifted) in US_KEYMAP.items() if code < 55 and shifted != plain
}

Event = tuple[int, int, int]


def keys(text: str, *, enter: int = ENTER) -> list[Event]:
    """What a US keyboard-mode scanner sends for `text`: per key a scan code (EV_MSC),
    down, SYN, up, SYN; Shift pressed around shifted characters; then Enter."""
    out: list[Event] = []

    def tap(code: int) -> None:
        out.extend([(EV_MSC, 4, 0x70000 + code), (EV_KEY, code, KEY_DOWN), (EV_SYN, 0, 0)])
        out.extend([(EV_KEY, code, KEY_UP), (EV_SYN, 0, 0)])

    for ch in text:
        if ch in SHIFTED:
            out.append((EV_KEY, SHIFT, KEY_DOWN))
            tap(SHIFTED[ch])
            out.append((EV_KEY, SHIFT, KEY_UP))
        else:
            tap(CODE_OF[ch])
    tap(enter)
    return out


# -- the decoder, pure ---------------------------------------------------------------------


def test_digits_and_enter_type_the_barcode_and_a_carriage_return() -> None:
    assert KeystrokeDecoder().feed(keys(ITEM)) == ITEM.encode() + b"\r"


def test_shift_gives_capitals_and_us_layout_symbols() -> None:
    text = "AbC-9.x/Z_+:?"
    assert KeystrokeDecoder().feed(keys(text, enter=KPENTER)) == text.encode() + b"\r"


def test_key_up_and_autorepeat_type_nothing() -> None:
    events = [
        (EV_KEY, 2, KEY_DOWN),
        (EV_KEY, 2, KEY_REPEAT),
        (EV_KEY, 2, KEY_REPEAT),
        (EV_KEY, 2, KEY_UP),
    ]
    assert KeystrokeDecoder().feed(events) == b"1"


def test_shift_counts_only_while_held() -> None:
    decoder = KeystrokeDecoder()
    events = [(EV_KEY, SHIFT, KEY_DOWN), (EV_KEY, SHIFT, KEY_REPEAT), (EV_KEY, 30, KEY_DOWN)]
    events += [(EV_KEY, SHIFT, KEY_UP), (EV_KEY, 30, KEY_DOWN)]
    assert decoder.feed(events) == b"Aa"


def test_a_key_without_a_character_marks_the_line_unprintable() -> None:
    f1, ctrl = 59, 29
    assert KeystrokeDecoder().feed([(EV_KEY, f1, KEY_DOWN)]) == b"\x00"
    with_ctrl = [
        (EV_KEY, ctrl, KEY_DOWN),
        (EV_KEY, 30, KEY_DOWN),
        (EV_KEY, ctrl, KEY_UP),
        (EV_KEY, 30, KEY_DOWN),
    ]
    assert KeystrokeDecoder().feed(with_ctrl) == b"\x00a"


def test_caps_lock_flips_letters_only() -> None:
    events = [(EV_KEY, 58, KEY_DOWN), (EV_KEY, 30, KEY_DOWN), (EV_KEY, 2, KEY_DOWN)]
    assert KeystrokeDecoder().feed(events) == b"A1"


def test_the_keymap_agrees_with_evdev_key_names() -> None:
    ecodes = pytest.importorskip("evdev").ecodes
    names = {
        "KEY_1": "1", "KEY_0": "0", "KEY_A": "a", "KEY_Z": "z", "KEY_MINUS": "-",
        "KEY_DOT": ".", "KEY_SLASH": "/", "KEY_SPACE": " ", "KEY_KP0": "0", "KEY_KP7": "7",
        "KEY_KPDOT": ".", "KEY_KPSLASH": "/", "KEY_SEMICOLON": ";", "KEY_BACKSLASH": "\\",
    }  # fmt: skip
    for name, char in names.items():
        assert US_KEYMAP[getattr(ecodes, name)][0] == char, name
    assert (ecodes.KEY_ENTER, ecodes.KEY_KPENTER, ecodes.KEY_LEFTSHIFT) == (ENTER, KPENTER, SHIFT)


# -- the driver on a recorded event stream -----------------------------------------------------




class RecordedDevice:
    """A scanner plugged into a pipe: the driver opens it by path (through `open`) and
    reads the kernel's event records from it. Unplugged, the stream ends (ENODEV) and
    the path is gone (ENOENT) until it is plugged in again."""

    def __init__(self) -> None:
        self.present = True
        self.opens = 0
        self.attempts = 0  # every open, the failed ones while unplugged too
        self._writer: int | None = None
        self._opened = threading.Condition()

    def open(self, path: str) -> RawEventSource:
        with self._opened:
            self.attempts += 1
            self._opened.notify_all()
        if not self.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        read_end, write_end = os.pipe()
        try:
            source = RawEventSource(f"/dev/fd/{read_end}", grab=False)
        finally:
            os.close(read_end)
        with self._opened:
            self._writer = write_end
            self.opens += 1
            self._opened.notify_all()
        return source

    def wait_opens(self, n: int, timeout: float = 3.0) -> None:
        with self._opened:
            assert self._opened.wait_for(lambda: self.opens >= n, timeout)

    def wait_attempts(self, n: int, timeout: float = 3.0) -> None:
        """Until the driver has tried to open the device `n` times in all."""
        with self._opened:
            assert self._opened.wait_for(lambda: self.attempts >= n, timeout), self.attempts

    def send(self, events: list[Event], *, chunk: int | None = None) -> None:
        data = pack_events(events)
        assert self._writer is not None
        step = chunk or len(data)
        for i in range(0, len(data), step):
            os.write(self._writer, data[i : i + step])

    def unplug(self) -> None:
        self.present = False
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None

    def plug_in(self) -> None:
        self.present = True


@pytest.fixture
def hid() -> Iterator[tuple[RecordedDevice, HidScanner, Events]]:
    device, events = RecordedDevice(), Events()
    scanner = HidScanner(
        "/dev/input/by-id/usb-test-scanner-event-kbd",
        events.post,
        max_length=20,
        open_input=device.open,
        reconnect_initial_s=0.02,
        reconnect_max_s=0.1,
    )
    with scanner:
        assert scanner.wait_connected(3)
        yield device, scanner, events
    device.unplug()


def test_a_typed_barcode_arrives_like_a_serial_scan(hid) -> None:
    device, _scanner, events = hid
    device.send(keys(ITEM))
    device.send(keys("ABC-123", enter=KPENTER))
    assert events.next() == BarcodeRead(ITEM, "desk")
    assert events.next() == BarcodeRead("ABC-123", "desk")


def test_event_records_split_across_reads_are_reassembled(hid) -> None:
    device, _scanner, events = hid
    device.send(keys(ITEM), chunk=7)  # 7 does not divide a 24-byte record
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_a_line_with_an_unknown_key_is_rejected_and_the_next_scan_arrives(hid) -> None:
    device, _scanner, events = hid
    f5 = 63
    device.send([(EV_KEY, 2, KEY_DOWN), (EV_KEY, f5, KEY_DOWN), (EV_KEY, ENTER, KEY_DOWN)])
    device.send(keys(ITEM))
    assert events.next() == BarcodeRejected("non-printable", 2, "desk")
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_a_held_key_repeating_does_not_repeat_the_character(hid) -> None:
    device, _scanner, events = hid
    device.send(
        [(EV_KEY, 3, KEY_DOWN)] + [(EV_KEY, 3, KEY_REPEAT)] * 5 + [(EV_KEY, 3, KEY_UP)] + keys("3")
    )
    assert events.next() == BarcodeRead("23", "desk")


def test_a_too_long_line_without_enter_is_dropped_with_a_log_line(hid, caplog) -> None:
    device, _scanner, events = hid
    with caplog.at_level(logging.WARNING, logger="drivers.scanner"):
        device.send(keys("1" * 30)[:-5])  # no Enter
        device.send(keys(ITEM))
        assert events.next() == BarcodeRejected("overlong", 30 + len(ITEM), "desk")
    assert "dropped a line" in caplog.text and "scanner" in caplog.text
    # a line that never ends at all is dropped after the scanner goes quiet
    device.send(keys("9" * 25)[:-5])
    assert events.next() == BarcodeRejected("overlong", 25, "desk")


def test_unplug_mid_read_is_one_fault_and_replug_recovers(hid) -> None:
    device, scanner, events = hid
    device.send(keys("123")[:-5])  # half a barcode, then the cable is pulled
    device.unplug()
    fault = events.next()
    assert isinstance(fault, DeviceFault)
    assert (fault.device, fault.code) == ("scanner", "scanner-unplugged")
    assert events.next() == BarcodeRejected("non-printable", 3, "desk")  # the half line
    assert "usb-test-scanner-event-kbd" in (scanner.last_error or "")
    # Three more reopen attempts while absent: one driver thread, so what the first two
    # led to is posted by the third. Still the one fault (no quiet window to guess).
    device.wait_attempts(device.attempts + 3)
    assert events.all() == []
    [result] = scanner.diagnose(readback_timeout_s=0.1)
    assert (result.ok, result.code) == (False, "scanner-unplugged")
    assert "hid /dev/input/by-id/usb-test-scanner-event-kbd: absent" in result.detail
    device.plug_in()
    assert events.next() == DeviceRecovered("scanner")
    assert scanner.wait_connected(3)
    device.send(keys(ITEM))
    assert events.next() == BarcodeRead(ITEM, "desk")


def test_a_scanner_absent_at_start_is_a_fault_until_plugged_in() -> None:
    device, events = RecordedDevice(), Events()
    device.present = False
    with HidScanner("/dev/input/x", events.post, source="chute", open_input=device.open,
                    reconnect_initial_s=0.02, reconnect_max_s=0.05):  # fmt: skip
        assert events.next() == DeviceFault(
            "chute_scanner", "scanner-unplugged", events_hint("scanner-unplugged")
        )
        device.plug_in()
        assert events.next() == DeviceRecovered("chute_scanner")
        device.send(keys(ITEM))
        assert events.next() == BarcodeRead(ITEM, "chute")
    device.unplug()


def events_hint(code: str) -> str:
    from drivers.diagnostics import FAULT_HINTS

    return FAULT_HINTS[code]


def test_self_test_names_the_kind_and_path() -> None:
    device = RecordedDevice()
    scanner = HidScanner("/dev/input/by-id/kbd", Events().post, open_input=device.open)
    [result] = scanner.diagnose()
    assert (result.ok, result.detail) == (True, "hid /dev/input/by-id/kbd opens")
    device.unplug()
    [result] = scanner.diagnose()
    assert (result.ok, result.code) == (False, "scanner-unplugged")


# -- python-evdev's objects -------------------------------------------------------------


class FakeEvdevDevice:
    """Stands in for `evdev.InputDevice`: a readable fd and real `evdev.InputEvent`s."""

    def __init__(self, batches: list[list[object]], *, grab_error: OSError | None = None) -> None:
        self.batches = batches
        self.grab_error = grab_error
        self.grabbed = False
        self.closed = False
        self._r, self._w = os.pipe()
        os.write(self._w, b"x" * 8)  # always readable
        self.fd = self._r

    def grab(self) -> None:
        if self.grab_error:
            raise self.grab_error
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def read(self) -> Iterator[object]:
        if not self.batches:
            raise BlockingIOError(errno.EAGAIN, "no events")
        batch = self.batches.pop(0)
        if isinstance(batch, OSError):
            raise batch
        return iter(batch)

    def close(self) -> None:
        self.closed = True
        os.close(self._r)
        os.close(self._w)


def test_evdev_events_are_decoded_and_the_device_is_grabbed() -> None:
    evdev = pytest.importorskip("evdev")
    recorded = [evdev.InputEvent(1, i, t, c, v) for i, (t, c, v) in enumerate(keys("A1"))]
    device = FakeEvdevDevice([recorded[:4], recorded[4:]])
    source = EvdevSource("/dev/input/event3", device=device)
    assert device.grabbed
    decoder = KeystrokeDecoder()
    typed = decoder.feed(source.read(0.1)) + decoder.feed(source.read(0.1))
    assert typed == b"A1\r"
    assert source.read(0.1) == []  # BlockingIOError: nothing yet
    device.batches = [OSError(errno.ENODEV, "No such device")]
    with pytest.raises(OSError) as gone:
        source.read(0.1)
    assert gone.value.errno == errno.ENODEV
    source.close()
    assert device.closed and not device.grabbed


def test_a_scanner_grabbed_by_another_program_is_scanner_busy() -> None:
    pytest.importorskip("evdev")
    events = Events()

    def open_busy(path: str) -> EvdevSource:
        return EvdevSource(
            path,
            device=FakeEvdevDevice([], grab_error=OSError(errno.EBUSY, "Device or resource busy")),
        )

    with HidScanner(
        "/dev/input/event3", events.post, open_input=open_busy, reconnect_initial_s=0.05
    ):
        fault = events.next()
        assert isinstance(fault, DeviceFault) and fault.code == "scanner-busy"
        assert "Kivy" in fault.hint


# -- a virtual kernel device, where the kernel offers /dev/uinput -------------------------


UINPUT = Path("/dev/uinput")
UINPUT_DEVICE = os.makedev(10, 223)  # a misc device, minor UINPUT_MINOR (linux/uinput.h)


def kernel_has_uinput() -> bool:
    """The driver is in the running kernel (built in or loaded: /proc/misc) or can be
    loaded (a uinput module for this release)."""
    try:
        if "uinput" in Path("/proc/misc").read_text().split():
            return True
    except OSError:
        pass
    modules = Path("/lib/modules") / os.uname().release
    builtin = modules / "modules.builtin"
    return any(modules.rglob("uinput.ko*")) or (builtin.exists() and "uinput.ko" in builtin.read_text())


@pytest.fixture
def uinput() -> Iterator[None]:
    """A writable /dev/uinput. As root, `modprobe uinput` and make the node when missing (a
    container's /dev lacks it; removed again after). Skips, naming why, only where it
    cannot be had; tests/run_summary.py lets CI skip only a kernel without the driver."""
    made = False
    if os.geteuid() == 0 and not UINPUT.exists():
        if shutil.which("modprobe"):
            subprocess.run(["modprobe", "uinput"], capture_output=True, timeout=30, check=False)
        if kernel_has_uinput():
            try:
                os.mknod(UINPUT, 0o600 | stat.S_IFCHR, UINPUT_DEVICE)
                made = True
            except OSError as exc:
                pytest.skip(f"the kernel has uinput but {UINPUT} cannot be made: {exc}")
    try:
        if not kernel_has_uinput():
            pytest.skip(
                f"{NO_UINPUT_DRIVER} (not in /proc/misc, no module under /lib/modules/"
                f"{os.uname().release}): the recorded-stream tests above cover the driver"
            )
        try:
            os.close(os.open(UINPUT, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            pytest.skip(f"the kernel has uinput but {UINPUT} cannot be opened for writing: {exc}")
        yield
    finally:
        if made:
            UINPUT.unlink(missing_ok=True)


@pytest.mark.uinput
@pytest.mark.usefixtures("uinput")
def test_a_virtual_keyboard_scanner_through_uinput_is_grabbed_and_read() -> None:
    evdev = pytest.importorskip("evdev")
    events = Events()
    with evdev.UInput(
        {evdev.ecodes.EV_KEY: list(range(1, 100))}, name="test barcode scanner"
    ) as ui:
        time.sleep(0.2)  # udev creates the event node
        path = ui.device.path
        with HidScanner(path, events.post, reconnect_initial_s=0.02) as scanner:
            assert scanner.wait_connected(3)
            other = evdev.InputDevice(path)
            with pytest.raises(OSError):
                other.grab()  # ours is exclusive
            other.close()
            for ev_type, code, value in keys("Ab-1"):
                ui.write(ev_type, code, value)
            ui.syn()
            assert events.next() == BarcodeRead("Ab-1", "desk")
