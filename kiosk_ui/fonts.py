"""Find and register a CJK font as Kivy's default, so Chinese never shows as empty boxes.

Kivy's bundled Roboto has no CJK glyphs. We register WenQuanYi Micro Hei (small, in
Debian's fonts-wqy-microhei) or Noto Sans CJK under Kivy's default font name, so every
Label uses it without each widget naming a font.
"""

from __future__ import annotations

import os
from pathlib import Path

# Most preferred first. A Noto .ttc loads its first face (Japanese), still fine for
# simplified Chinese text but with some Japanese glyph shapes, hence last.
CJK_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
FONT_ENV = "KIOSK_CJK_FONT"


class FontMissing(RuntimeError):
    """No CJK font: the kiosk would show boxes instead of Chinese, so it refuses to start."""


def find_cjk_font(candidates: tuple[str, ...] = CJK_FONT_CANDIDATES) -> Path:
    """The first CJK font present ($KIOSK_CJK_FONT first), or FontMissing naming the fix."""
    override = os.environ.get(FONT_ENV)
    paths = ((override,) if override else ()) + candidates
    for candidate in paths:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(
        "No Chinese (CJK) font found; looked in: "
        + ", ".join(paths)
        + ". Install the Debian package fonts-wqy-microhei "
        "(sudo apt-get install fonts-wqy-microhei) or set KIOSK_CJK_FONT to a .ttf/.ttc/.otf."
    )


def register_cjk_font(path: Path | None = None) -> Path:
    """Register the CJK font as Kivy's default font name; returns the file used."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    font = path or find_cjk_font()
    LabelBase.register(name=DEFAULT_FONT, fn_regular=str(font))
    return font
