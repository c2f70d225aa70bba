"""The reader's receipt on screen: a QR code of the core's receipt lines (the journal's
promise), the fallback whenever there is no paper (drivers/receipt_printer.py prints)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image


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
