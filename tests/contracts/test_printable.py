"""contract.printable: one line stays one line, and readable text is kept as it is."""

from __future__ import annotations

from pathlib import Path

from contract.printable import printable


def test_control_characters_are_escaped_and_the_rest_is_kept() -> None:
    assert printable("a\rb\nc\x00") == "a\\x0db\\x0ac\\x00"
    assert printable(Path("/srv/首都图书馆/kiosk.toml")) == "/srv/首都图书馆/kiosk.toml"
    assert len(printable("x\n" * 50).splitlines()) == 1
