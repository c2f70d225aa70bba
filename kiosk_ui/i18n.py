"""The one message catalogue: gettext .po files (zh, en) read with babel at start-up.

Every word on screen is looked up here by a stable key, so translators edit .po files
and tests can prove both languages hold the same keys. No compile step: the kiosk
reads the .po text directly (a few hundred strings; parsing takes milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("zh", "en")
DOMAIN = "kiosk"
LOCALE_DIR = Path(__file__).with_name("locale")


class CatalogueError(RuntimeError):
    """A .po file is missing or unreadable: the kiosk cannot show words without it."""


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_messages(path: Path) -> dict[str, str]:
    """Key -> text of one .po file (untranslated entries are left out, so a test sees them)."""
    from babel.messages.pofile import read_po

    if not path.is_file():
        raise CatalogueError(f"message catalogue missing: {path}")
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string
    }


@dataclass(frozen=True)
class Catalogue:
    """Both languages' messages; `text(lang, key, **args)` is the only way UI code gets words."""

    messages: dict[str, dict[str, str]]

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR) -> Catalogue:
        return cls({lang: read_messages(po_path(lang, locale_dir)) for lang in LANGUAGES})

    def has(self, key: str, language: str = "zh") -> bool:
        return key in self.messages.get(language, {})

    def keys(self, language: str) -> set[str]:
        return set(self.messages.get(language, {}))

    def text(self, language: str, key: str, **args: object) -> str:
        """The message in `language`; a missing key shows itself (visible, and tests catch it)."""
        table = self.messages.get(language) or self.messages["zh"]
        template = table.get(key, key)
        if not args:
            return template
        try:
            return template.format(**args)
        except (KeyError, IndexError, ValueError):
            return template
