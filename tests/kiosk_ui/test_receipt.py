"""The receipt on screen: the QR code of the core's receipt lines (paper is
drivers/receipt_printer.py's, tests/drivers/test_receipt_printer.py)."""

from __future__ import annotations

from kiosk_ui.receipt import receipt_qr_image, receipt_qr_text
from kiosk_ui.samples import receipt


def test_the_receipt_qr_code_is_black_on_white_and_square() -> None:
    image = receipt_qr_image(receipt())
    assert image.size[0] == image.size[1] > 100
    colours = {c for _, c in image.getcolors(maxcolors=4)}
    assert colours == {(0, 0, 0), (255, 255, 255)}


def test_the_qr_code_carries_every_receipt_line_chinese_included() -> None:
    text = receipt_qr_text(receipt())
    assert text.splitlines() == list(receipt())
    assert "平凡的世界" in text
