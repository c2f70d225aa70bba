"""The receipt: printer formatting fits the paper, the QR code is made, and the ESC/POS
printer is optional (a clear error without python-escpos, the right calls with it)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from kiosk_ui.receipt import (
    EscposPrinter,
    ReceiptPrinter,
    display_width,
    format_receipt,
    receipt_qr_image,
)
from kiosk_ui.samples import receipt


def test_printer_lines_fit_the_paper_counting_chinese_as_double_width() -> None:
    text = format_receipt(receipt(), columns=32)
    lines = text.splitlines()
    assert all(display_width(line) <= 32 for line in lines)
    assert lines[0] == "-" * 32 and lines[-1] == "-" * 32
    joined = "".join(lines)
    assert "平凡的世界" in joined and "30101000000017" in joined.replace(" ", "")


def test_the_receipt_qr_code_is_black_on_white_and_square() -> None:
    image = receipt_qr_image(receipt())
    assert image.size[0] == image.size[1] > 100
    colours = {c for _, c in image.getcolors(maxcolors=4)}
    assert colours == {(0, 0, 0), (255, 255, 255)}


def test_without_python_escpos_the_printer_says_what_to_install(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "escpos", None)
    with pytest.raises(RuntimeError, match="python-escpos"):
        EscposPrinter("Usb", idVendor=0x0416, idProduct=0x5011)


def test_an_escpos_printer_gets_the_text_the_qr_code_and_a_cut(monkeypatch: Any) -> None:
    calls: list[tuple[str, Any]] = []

    class FakeUsb:
        def __init__(self, **kwargs: Any) -> None:
            calls.append(("open", kwargs))

        def text(self, value: str) -> None:
            calls.append(("text", value))

        def qr(self, value: str, size: int) -> None:
            calls.append(("qr", value))

        def cut(self) -> None:
            calls.append(("cut", None))

    package = types.ModuleType("escpos")
    printer_module = types.ModuleType("escpos.printer")
    printer_module.Usb = FakeUsb  # type: ignore[attr-defined]
    package.printer = printer_module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "escpos", package)
    monkeypatch.setitem(sys.modules, "escpos.printer", printer_module)
    printer: ReceiptPrinter = EscposPrinter("Usb", idVendor=1, idProduct=2)
    printer.print_receipt(receipt())
    assert [c[0] for c in calls] == ["open", "text", "qr", "cut"]
    assert calls[1][1] == format_receipt(receipt())
    assert "王*明" in calls[2][1]
