"""The ESC/POS receipt printer driver: the exact bytes, the status queries, and faults,
against a printer on a pseudo-terminal (`hal_sim.printer_pty`), a TCP socket and a
character device."""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import tty
from collections.abc import Iterator

import pytest

from drivers.events import DeviceFault, DeviceRecovered
from drivers.receipt_printer import (
    NetworkPrinterLink,
    ReceiptPrinter,
    SerialPrinterLink,
    UsbPrinterLink,
    display_width,
    layout,
    printer_link,
)
from hal_sim.printer_pty import SimulatedPrinter
from tests.drivers.device_events import Events

LINES = ("首都图书馆联盟 Capital Library Alliance", "借出 Loan: 30101000000018", "应还 2030-02-01")
INIT, CHINESE, CUT = b"\x1b@", b"\x1c&", b"\x1bd\x04\x1dV\x01"
RULE = b"-" * 32 + b"\n"




@pytest.fixture
def sim() -> Iterator[SimulatedPrinter]:
    with SimulatedPrinter() as printer:
        yield printer


def printer_on(sim: SimulatedPrinter, events: Events, **kw: object) -> ReceiptPrinter:
    kw.setdefault("status_timeout_s", 0.3)
    kw.setdefault("recheck_s", 0.1)
    return ReceiptPrinter(SerialPrinterLink(sim.port), events.post, **kw)  # type: ignore[arg-type]


def test_the_job_is_init_chinese_mode_gb18030_lines_then_feed_and_cut(sim) -> None:
    events = Events()
    with printer_on(sim, events) as printer:
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        assert sim.wait_for(CUT)  # the printer has taken in the whole job
    expected = (
        INIT
        + CHINESE
        + RULE
        # 首都图书馆联盟 is 14 columns wide: the line wraps at column 32
        + "首都图书馆联盟 Capital Library A".encode("gb18030") + b"\n"
        + b"lliance\n"
        + "借出 Loan: 30101000000018".encode("gb18030") + b"\n"
        + "应还 2030-02-01".encode("gb18030") + b"\n"
        + RULE
        + CUT
    )  # fmt: skip
    assert sim.jobs() == [expected]
    assert "首都".encode("gb18030") == b"\xca\xd7\xb6\xbc"  # GB2312 area: same bytes in GBK
    assert sim.queries == [4, 1, 4, 1]  # paper and printer status at start, then before the job
    assert events.all() == []
    assert printer.printed == 1


def test_characters_beyond_gbk_are_kept_in_gb18030_and_replaced_in_gbk() -> None:
    rare = "𠀀"  # CJK Extension B: four bytes in GB18030, none in GBK
    gb18030 = ReceiptPrinter(UsbPrinterLink("/dev/null"), Events().post)
    gbk = ReceiptPrinter(UsbPrinterLink("/dev/null"), Events().post, encoding="gbk", cut=False)
    assert rare.encode("gb18030") in gb18030.render([rare])
    assert gbk.render([rare]) == INIT + CHINESE + b"-" * 32 + b"\n?\n" + b"-" * 32 + b"\n"


def test_lines_fit_the_paper_counting_chinese_as_two_columns() -> None:
    text = layout(["应还日期" * 10, "x" * 70], columns=32)
    assert all(display_width(line) <= 32 for line in text.splitlines())


def test_paper_out_is_a_fault_and_the_job_is_dropped_not_printed_later(sim, caplog) -> None:
    events = Events()
    sim.paper_out()
    with caplog.at_level(logging.WARNING), printer_on(sim, events, recheck_s=5) as printer:
        fault = events.next()
        assert isinstance(fault, DeviceFault)
        assert (fault.device, fault.code) == ("printer", "printer-paper-out")
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        assert sim.jobs() == []
        assert events.all() == []  # one fault, not one per receipt
        assert "the reader has the QR code" in caplog.text
        [result] = printer.diagnose()
        assert (result.ok, result.code) == (False, "printer-paper-out")
        assert "paper end" in result.detail and result.hint
        sim.load_paper()
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        assert events.next() == DeviceRecovered("printer")
        assert sim.wait_for(CUT)
    assert len(sim.jobs()) == 1  # only the receipt printed after the paper came back


def test_a_printer_switched_off_is_offline_and_recovers_by_itself(sim) -> None:
    events = Events()
    with printer_on(sim, events) as printer:
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        assert sim.wait_for(CUT)
        sim.switch_off()
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        fault = events.next()
        assert isinstance(fault, DeviceFault) and fault.code == "printer-offline"
        assert "no answer to a status query" in (printer.last_error or "")
        sim.switch_on()
        assert events.next() == DeviceRecovered("printer")  # found by the periodic recheck
    assert len(sim.jobs()) == 1


def test_a_missing_port_is_offline_in_the_self_test() -> None:
    printer = ReceiptPrinter(SerialPrinterLink("/dev/nonexistent-printer"), Events().post)
    [result] = printer.diagnose()
    assert (result.device, result.ok, result.code) == ("printer", False, "printer-offline")
    assert "/dev/nonexistent-printer" in result.detail


def test_self_test_passes_and_says_paper_low(sim) -> None:
    printer = printer_on(sim, Events())
    assert printer.diagnose()[0].detail == f"serial {sim.port} answers"
    sim.paper = "low"
    [result] = printer.diagnose()
    assert result.ok and result.detail.endswith("paper low")
    assert sim.jobs() == []  # a self-test prints nothing


def test_without_status_queries_a_write_error_is_the_offline_fault() -> None:
    class BrokenConnection:
        def write(self, data: bytes) -> None:
            raise OSError(errno.EIO, "Input/output error")

        def read(self, n: int, timeout_s: float) -> bytes:
            return b""

        def close(self) -> None:
            pass

    class Link:
        def open(self) -> BrokenConnection:
            return BrokenConnection()

    events = Events()
    with ReceiptPrinter(Link(), events.post, status_query=False) as printer:
        assert events.all() == []  # without queries, opening is all the start can check
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
        fault = events.next()
        assert isinstance(fault, DeviceFault) and fault.code == "printer-offline"


def test_print_receipt_never_blocks_and_drops_what_cannot_wait(caplog) -> None:
    printer = ReceiptPrinter(UsbPrinterLink("/dev/null"), Events().post, max_waiting=2)
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            printer.print_receipt(LINES)  # not started: nothing takes them
    assert "not printed" in caplog.text
    printer.close()
    printer.print_receipt(LINES)  # after close: ignored, no error


def test_a_network_printer_gets_the_same_job_over_tcp() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    got = bytearray()

    def printer_firmware() -> None:
        for _ in range(2):  # the check at start, then the job
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(4096):
                    for i in range(len(data)):
                        if data[i : i + 2] == b"\x10\x04":
                            conn.sendall(b"\x12")
                    got.extend(data)

    thread = threading.Thread(target=printer_firmware, daemon=True)
    thread.start()
    link = printer_link("network", host="127.0.0.1", tcp_port=server.getsockname()[1])
    assert isinstance(link, NetworkPrinterLink)
    assert str(link) == f"network 127.0.0.1:{server.getsockname()[1]}"
    events = Events()
    with ReceiptPrinter(link, events.post, recheck_s=0.1) as printer:
        printer.print_receipt(LINES)
        assert printer.wait_idle(3)
    thread.join(3)
    server.close()
    assert got.endswith(ReceiptPrinter(link, events.post).render(LINES))
    assert events.all() == []


def test_a_usb_printer_is_its_character_device() -> None:
    master, slave = os.openpty()  # stands in for /dev/usb/lp0: a two-way character device
    tty.setraw(slave)
    try:
        path = os.ttyname(slave)
        link = printer_link("usb", device=path)
        assert isinstance(link, UsbPrinterLink)
        printer = ReceiptPrinter(link, Events().post, status_query=False, cut=False)
        printer.start()
        printer.print_receipt(["OK"])
        assert printer.wait_idle(3)
        printer.close()
        assert os.read(master, 4096) == INIT + CHINESE + RULE + b"OK\n" + RULE
    finally:
        os.close(master)
        os.close(slave)


def test_a_link_needs_its_target() -> None:
    with pytest.raises(ValueError, match="needs its device"):
        printer_link("usb")
