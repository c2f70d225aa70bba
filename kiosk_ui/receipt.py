"""The reader's receipt: a QR code on screen and, where a printer is fitted, paper.

The receipt lines come from the core (the journal's promise); this module only lays
them out. python-escpos is optional (the `pi` extra) and imported only when an ESC/POS
printer is actually configured, so kiosks without one never need it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

RECEIPT_COLUMNS = 32  # 58 mm paper, 12x24 font: 32 half-width columns (16 Chinese characters)


class ReceiptPrinter(Protocol):
    """Anything that can put the receipt on paper."""

    def print_receipt(self, lines: Sequence[str]) -> None: ...


def display_width(text: str) -> int:
    """Columns the text takes on a thermal printer: CJK (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def wrap_receipt_line(line: str, columns: int = RECEIPT_COLUMNS) -> list[str]:
    """Break one line into printer lines that fit `columns`, counting CJK as double width."""
    out: list[str] = []
    current = ""
    width = 0
    for ch in line:
        w = display_width(ch)
        if width + w > columns:
            out.append(current.rstrip())
            current, width = ("", 0) if ch == " " else (ch, w)
            continue
        current += ch
        width += w
    if current.strip() or not out:
        out.append(current.rstrip())
    return out


def format_receipt(lines: Sequence[str], columns: int = RECEIPT_COLUMNS) -> str:
    """The text the printer gets: wrapped lines framed by rules, ending with a newline."""
    rule = "-" * columns
    body = [piece for line in lines for piece in wrap_receipt_line(line, columns)]
    return "\n".join([rule, *body, rule]) + "\n"


def receipt_qr_text(lines: Sequence[str]) -> str:
    return "\n".join(lines)


def receipt_qr_image(lines: Sequence[str], box_size: int = 6, border: int = 2) -> Image:
    """A black-on-white QR code of the receipt (a PIL image), for screen or paper."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(receipt_qr_text(lines).encode("utf-8"))
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def receipt_qr_texture(lines: Sequence[str]) -> Any:
    """The QR code as a Kivy texture (imports Kivy: call only inside the running app)."""
    from kivy.graphics.texture import Texture

    image = receipt_qr_image(lines)
    texture = Texture.create(size=image.size, colorfmt="rgb")
    # Kivy textures start at the bottom row; PIL images at the top.
    texture.blit_buffer(image.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
    texture.flip_vertical()
    texture.mag_filter = "nearest"
    texture.min_filter = "nearest"
    return texture


class EscposPrinter:
    """A receipt printer on USB/serial/network through python-escpos.

    `connection` is an escpos printer class name ("Usb", "Serial", "Network", ...) and
    `kwargs` its arguments. escpos is imported here, not at module load, because most
    kiosks have no printer and the package is only in the `pi` extra.
    """

    def __init__(self, connection: str = "Usb", columns: int = RECEIPT_COLUMNS, **kwargs: Any) -> None:
        try:
            from escpos import printer as escpos_printer
        except ImportError as exc:
            raise RuntimeError(
                "python-escpos is not installed; install the kiosk's `pi` extra "
                "(pip install 'alliance-kiosk[pi]') to print receipts"
            ) from exc
        self.columns = columns
        self._device = getattr(escpos_printer, connection)(**kwargs)

    def print_receipt(self, lines: Sequence[str]) -> None:
        self._device.text(format_receipt(lines, self.columns))
        self._device.qr(receipt_qr_text(lines), size=4)
        self._device.cut()
