"""Operator tables line up in a terminal: Chinese characters take two columns (wcwidth),
so a column after a title starts at the same column on every line (issue 19 item 6)."""

from __future__ import annotations

from wcwidth import wcswidth

from hub.cli.table import columns, display_width, pad


def starts(line: str, cell: str) -> int:
    """The display column at which `cell` starts in `line`."""
    return wcswidth(line[: line.index(cell)])


def test_chinese_cells_pad_by_display_width_and_the_next_column_lines_up() -> None:
    rows = [
        {"barcode": "30002000000018", "title": "生死疲劳 / 莫言 著", "home": "capital"},
        {"barcode": "30102000000016", "title": "Fortress Besieged", "home": "xicheng"},
        {"barcode": "30101000000018", "title": "三体Ⅲ·死神永生 / 刘慈欣 著", "home": "dongcheng"},
    ]
    lines = columns(rows, ("barcode", "title", "home")).splitlines()
    homes = [
        starts(line, cell)
        for line, cell in zip(lines, ("HOME", "capital", "xicheng", "dongcheng"), strict=True)
    ]
    assert len(set(homes)) == 1, lines
    assert homes[0] == 14 + 2 + wcswidth("三体Ⅲ·死神永生 / 刘慈欣 著") + 2


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("王小明") == 6
    assert display_width("abc") == 3
    assert pad("西城", 6) == "西城  "
    assert display_width("a\x1bb") == 3  # a control character: its length, no crash
