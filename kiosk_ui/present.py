"""View data -> the words a reader sees. Pure presentation: no decisions about loans.

Kept free of Kivy so the wording rules (which key, which language, date format) are
tested without a window and shared by the screens and the receipt.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from firmware.view import ItemLine, KioskView

from .i18n import Catalogue

BABEL_LOCALES = {"zh": "zh_Hans_CN", "en": "en_GB"}


def book_title(title: str, language: str) -> str:
    """Chinese title marks go round the title only: the hub's titles read
    "平凡的世界 / 路遥 著" (title / author), which shows as 《平凡的世界》 路遥 著."""
    if language != "zh" or not title:
        return title
    name, _, author = title.partition(" / ")
    return f"《{name}》 {author}".rstrip()


def format_due(iso: str | None, language: str) -> str:
    """An ISO date as readers write it: 2025年3月1日 / 1 March 2025 (the raw text if unparsable)."""
    if not iso:
        return ""
    try:
        day = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    from babel.dates import format_date

    return format_date(day, format="long", locale=BABEL_LOCALES.get(language, "en_GB"))


def status_key(item: ItemLine) -> str:
    """The badge's words: a refused renewal is "not renewed" and a refused return goes
    to staff, not "not borrowed"."""
    if item.status == "refused" and item.kind in ("renew", "return"):
        return f"status.{item.kind}_refused"
    return f"status.{item.status}"


def reason_text(item: ItemLine, language: str, cat: Catalogue) -> str:
    """The hub's own words win; else our catalogue's words for the code; else a generic line."""
    if item.message is not None:
        return item.message.in_language(language)
    if item.reason_code:
        key = f"reason.{item.reason_code}"
        if cat.has(key, language):
            return cat.text(language, key)
    return cat.text(language, "reason.other")


def route_text(item: ItemLine, language: str, cat: Catalogue) -> str:
    if item.route == "transfer":
        if item.route_library_name is not None:
            library = item.route_library_name.in_language(language)
        else:
            library = item.route_library or ""
        return cat.text(language, "route.transfer", library=library)
    if item.route in ("shelve", "hold"):
        return cat.text(language, f"route.{item.route}")
    return ""


def item_detail(item: ItemLine, language: str, cat: Catalogue) -> str:
    """The second line of a book row: due date, refusal reason, or where it goes."""
    if item.status == "refused":
        return reason_text(item, language, cat)
    if item.status == "checking":
        return cat.text(language, "busy.checking")
    if item.status == "returned":
        return route_text(item, language, cat)
    due = format_due(item.due, language)
    text = cat.text(language, "borrow.due", date=due) if due else ""
    if item.status == "offline_loaned":
        note = cat.text(language, "status.offline_note")
        text = f"{text} · {note}" if text else note
    return text


def greeting(view: KioskView, cat: Catalogue) -> str:
    if view.reader_name:
        return cat.text(view.language, "borrow.greeting", name=view.reader_name)
    return cat.text(view.language, "borrow.greeting_anonymous")


def standing(view: KioskView, cat: Catalogue) -> list[str]:
    """The greeting's second line: what this reader may do here and now. Only what the
    kiosk knows: no loan count it was not told, no quota for a card that cannot borrow
    here, and an offline session says it is offline and what that changes."""
    lang = view.language
    if view.session_offline:
        if view.may_borrow:
            return [cat.text(lang, "borrow.offline", n=view.items_left or 0)]
        parts = [cat.text(lang, "borrow.offline_label")]
    else:
        parts = []
        if view.reader_loans is not None:
            parts.append(cat.text(lang, "borrow.loans", n=view.reader_loans))
    if not view.may_borrow:
        if view.borrow_message is not None:
            parts.append(view.borrow_message.in_language(lang))
        else:
            parts.append(cat.text(lang, "reason.scheme_not_accepted"))
    elif view.items_left is not None:
        parts.append(cat.text(lang, "borrow.items_left", n=view.items_left))
    return parts


MAX_NOTES = 4  # greeting notes shown at once on 800x480; the rest are counted


def reader_notes(view: KioskView, cat: Catalogue) -> list[str]:
    """The greeting's notes, one line each: holds ready to collect (here: scan it to
    borrow it; elsewhere: at which library), holds on their way and where to, then the
    loans due soon with their dates. More than MAX_NOTES: the last line counts the rest."""
    lang = view.language
    lines = []
    for hold in view.holds:
        title = book_title(hold.title, lang) or hold.barcode
        library = hold.library_name.in_language(lang) if hold.library_name is not None else hold.library_id
        if hold.status == "ready":
            key = "borrow.hold_ready_here" if hold.here else "borrow.hold_ready"
        else:
            key = "borrow.hold_in_transit"
        lines.append(cat.text(lang, key, title=title, library=library))
    for loan in view.due_soon:
        title = book_title(loan.title, lang) or loan.barcode
        lines.append(cat.text(lang, "borrow.due_soon", title=title, date=format_due(loan.due, lang)))
    if len(lines) > MAX_NOTES:
        rest = len(lines) - (MAX_NOTES - 1)
        lines = [*lines[: MAX_NOTES - 1], cat.text(lang, "borrow.notes_more", n=rest)]
    return lines


# Generic notices the hub's own words replace: a lost card is told "reported lost",
# not "cannot be used here" followed by the reason.
_REPLACED_BY_HUB_WORDS = frozenset({"notice.card_refused", "notice.ecard_refused"})


def notice_text(view: KioskView, cat: Catalogue) -> str:
    """The notice (a catalogue key with args) and/or the hub's bilingual message."""
    parts: list[str] = []
    if view.notice and not (view.notice in _REPLACED_BY_HUB_WORDS and view.hub_message is not None):
        parts.append(cat.text(view.language, view.notice, **dict(view.notice_args)))
    if view.hub_message is not None:
        parts.append(view.hub_message.in_language(view.language))
    return " ".join(parts)


# Notices the borrow screen says in its own lines already: the banner (offline, returns
# still work), the greeting (this card cannot borrow here) and the prompt (how to return).
_SAID_BY_THE_BORROW_SCREEN = frozenset({"notice.offline_returns_only"})


def notice_band_text(view: KioskView, cat: Catalogue) -> str:
    """What the notice band shows: `notice_text`, except that in large text the band
    leaves off a notice the borrow screen's own lines already say (the voice still
    speaks it). At 800x480 the same words three times pushed the greeting under the band."""
    if view.large_text and view.screen == "borrow" and view.notice in _SAID_BY_THE_BORROW_SCREEN:
        view = replace(view, notice=None, notice_args=())
    return notice_text(view, cat)
