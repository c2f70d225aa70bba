"""What the simulator console prints for a view: the reader's own words in the view's
language, from the kiosk's message catalogue and the same wording rules the screens use
(kiosk_ui.present), so the console reads as the touchscreen does. `keys` mode prints
the raw screen name, notice key and status codes instead, for debugging and scenarios.
"""

from __future__ import annotations

from firmware.view import KioskView
from kiosk_ui.i18n import Catalogue
from kiosk_ui.present import (
    book_title,
    greeting,
    item_detail,
    notice_text,
    reader_notes,
    standing,
    status_key,
)

# The heading each screen shows (the borrow screen greets the reader instead).
SCREEN_TITLES = {
    "attract": "attract.title",
    "pin": "pin.title",
    "returns": "returns.title",
    "summary": "summary.title",
    "help": "help.title",
    "out_of_service": "oos.title",
    "maintenance": "maint.title",
    "technician": "tech.title",
}


def describe_in_words(view: KioskView, cat: Catalogue) -> str:
    """One screenful as the reader reads it: heading, standing, notes, notice, books."""
    lang = view.language
    if view.screen == "borrow":
        head = [greeting(view, cat), *standing(view, cat)]
    else:
        head = [cat.text(lang, SCREEN_TITLES.get(view.screen, "oos.title"))]
    if view.screen == "pin" and view.pin_attempts_left is not None:
        head.append(cat.text(lang, "pin.attempts_left", n=view.pin_attempts_left))
    if not view.online:
        banner = (cat.text(lang, "banner.offline_pending", n=view.offline_pending) if view.offline_pending
                  else cat.text(lang, "banner.offline"))
        head.insert(0, f"[{banner}]")
    if view.profile == "book_drop":
        head.append(f"light {view.led}")  # a book drop has no screen: its light is what shows
    lines = [" · ".join(part for part in head if part)]
    if view.screen == "borrow":
        lines.extend(f"  {note}" for note in reader_notes(view, cat))
    notice = notice_text(view, cat)
    if notice:
        lines.append(f"  ! {notice}")
    for item in view.items:
        title = book_title(item.title, lang) or item.barcode
        detail = item_detail(item, lang, cat)
        badge = cat.text(lang, status_key(item))
        lines.append(f"    {item.barcode} {title} — {badge}{': ' + detail if detail else ''}")
    return "\n".join(lines)
