"""What the kiosk says aloud: one place that turns a change of KioskView into words.

`prompts_between(before, after)` is the whole rule, derived from the view alone (so a
screenless book drop speaks by the same rule):
- a new screen says that screen's prompt (`SCREEN_PROMPTS`), then its notice if any; so
  does the same screen in the other language (the reader pressed 中文 / English);
- a new notice (catalogue key, with its arguments, or a new message from the hub) says
  the notice (`NOTICE_PROMPTS`) and the hub's words;
- a book line that has just been refused says which book and why: the line's own
  bilingual message (the hub's, or the core's `LOCAL_REASONS`), else `REFUSED_FALLBACK`.

The Chinese is the screen catalogue's (kiosk_ui/locale/zh), the English the core's
glosses (`firmware.core.catalogue_keys.NOTICE_KEYS`) where they read well aloud;
tests/firmware/test_voice_prompts.py walks every screen, notice key and reason code.
The texts are plain Chinese: what espeak-ng needs to pronounce them is
`drivers.voice_synth`'s business.
"""

from __future__ import annotations

from types import MappingProxyType

from firmware.core.catalogue_keys import LOCAL_REASONS, NOTICE_KEYS
from firmware.view import ItemLine, KioskView, Text

SCREEN_PROMPTS: MappingProxyType[str, Text] = MappingProxyType(
    {
        "attract": Text(
            "借书请刷读者卡。还书请把书放入还书口，不用刷卡。",
            "To borrow, tap your library card. To return, put books into the return slot; no card needed.",
        ),
        "pin": Text("请输入密码，再按确定。", "Please enter your PIN, then press OK."),
        "borrow": Text(
            "您好！请把书的条码对准扫描窗口，一次一本。",
            "Hello! Hold each book's barcode to the scanner window, one book at a time.",
        ),
        "returns": Text(
            "请把书一本一本放入还书口，书脊朝前。",
            "Put books into the return slot one at a time, spine first.",
        ),
        "summary": Text("办理完成，谢谢！请取走您的读者卡。", "All done, thank you! Please take your card."),
        "help": Text(
            "已通知工作人员，请在这里稍等。也可以到服务台咨询。",
            "A member of staff has been called. Please wait here, or ask at the service desk.",
        ),
        "out_of_service": Text(
            "本机暂停服务，请到服务台借还书。",
            "This kiosk is out of service. Please borrow and return books at the service desk.",
        ),
        "technician": Text("技术维护。", "Technician screen."),
        "maintenance": Text(
            "工作人员正在维护本机，请稍候或到服务台借还书。",
            "Staff are working on this kiosk. Please wait, or use the service desk.",
        ),
    }
)

# The borrow screen of a card that may only return here: its own words follow.
RETURNS_ONLY_PROMPT = Text("还书请把书逐本放入还书口。", "To return, put books into the return slot one at a time.")

_NOTICE_ZH: MappingProxyType[str, str] = MappingProxyType(
    {
        "notice.card_unreadable": "没有读到这张卡，请把卡平放在读卡区。",
        "notice.card_not_library": "这不是联盟认可的读者卡。",
        "notice.one_card_at_a_time": "请一次只放一张卡。",
        "notice.card_refused": "这张卡现在不能使用，请到服务台询问。",
        "notice.try_again": "出了点问题，请再试一次。",
        "notice.pin_wrong": "密码不对，请再输一次。",
        "notice.pin_locked": "密码错误次数太多，这张卡暂时锁定。",
        "notice.pin_format": "密码是4到8位数字。",
        "notice.staff_needs_hub": "工作人员卡需要连接图书馆系统，现在连不上。",
        "notice.offline_reader": "图书馆系统暂时连不上：最多可以借{max_items}本。",
        "notice.offline_no_loans": "图书馆系统暂时连不上：暂停借书，还书照常。",
        "notice.offline_returns_only": "图书馆系统暂时连不上：这张卡在本馆不能借书，还书照常。",
        "notice.lift_card_and_tap": "您的卡还在读卡区：请把卡拿开，再刷一次。",
        "notice.finish_first": "请先完成当前的办理。",
        "notice.tap_card_first": "请先刷读者卡。",
        "notice.enter_pin_first": "请先输入密码。",
        "notice.already_scanned": "这本书已经在列表里了。",
        "notice.barcode_unreadable": "没有读到条码，请再扫一次。",
        "notice.tag_unreadable": "有一本书的标签读不出来：请扫描这本书的条码，或到服务台处理。",
        "notice.pad_stack_stale": "读写区上已有书放了很久：要借这些书，请拿起后重新放上。",
        "notice.please_wait": "还在查询上一本书，请稍等。",
        "notice.renew_needs_hub": "续借需要连接图书馆系统，现在连不上。",
        "notice.nothing_to_renew": "您没有可以续借的书。",
        "notice.returns_instructions": "请把书一本一本放入还书口，书脊朝前。",
        "notice.book_taken_back": "书被从还书口拿出来了。",
        "notice.book_taken_back_named": "书被从还书口拿出来了。",
        "notice.ecard_refused": "这个电子读者证现在不能使用，请在手机上刷新后再扫，或刷实体读者卡。",
        "notice.ecard_unreadable": "这个二维码不是图书馆电子读者证，请在图书馆应用里刷新，或刷实体读者卡。",
        "notice.ecard_needs_hub": "电子读者证需要连接图书馆系统，现在连不上，请刷实体读者卡。",
        "notice.book_drop_returns_only": "这里是还书箱，只能还书。借书请到图书馆自助借还机。",
        "notice.book_unidentified": "有一本书无法识别，工作人员会处理。",
        "notice.one_book_at_a_time": "请一本一本放入。",
        "notice.returns_paused": "还书暂停，请稍后。",
        "notice.take_your_card": "请带走您的读者卡。",
        "notice.staff_called": "已通知工作人员。",
        "notice.logged_out": "长时间没有操作，已自动退出。",
        "notice.card_reader_down_returns_only": "读卡器出了故障：还书照常。",
        "notice.scanner_down": "扫描器出了故障：暂停借书。",
        "notice.selftest_running": "正在自检。",
    }
)

# English glosses that read badly aloud (they point at the screen).
_NOTICE_EN_SPOKEN: MappingProxyType[str, str] = MappingProxyType(
    {
        "notice.card_refused": "This card cannot be used here. Please ask at the service desk.",
        "notice.pin_wrong": "Wrong PIN. Please try again.",
        # The screen names the book; a barcode read aloud helps nobody.
        "notice.already_scanned": "This book is already on your list.",
        "notice.book_taken_back_named": "The book was taken back out of the slot.",
        "notice.ecard_refused": "This phone e-card cannot be used now. Refresh it in the app, or tap your card.",
    }
)

NOTICE_PROMPTS: MappingProxyType[str, Text] = MappingProxyType(
    {
        key: Text(_NOTICE_ZH[key], _NOTICE_EN_SPOKEN.get(key, gloss))
        for key, gloss in NOTICE_KEYS.items()
        if key in _NOTICE_ZH
    }
)

REFUSED_FALLBACK = Text("请到服务台询问。", "Please ask at the service desk.")
_REFUSED = Text("{book}未办理。", "{book}: not done.")
_THIS_BOOK = Text("这本书", "This book")


def screen_prompt(view: KioskView) -> Text:
    """What a screen says when it appears."""
    prompt = SCREEN_PROMPTS.get(view.screen, SCREEN_PROMPTS["out_of_service"])
    if view.screen == "borrow" and not view.may_borrow:
        said = view.borrow_message or REFUSED_FALLBACK
        return Text(f"{said.zh}{RETURNS_ONLY_PROMPT.zh}", f"{said.en} {RETURNS_ONLY_PROMPT.en}")
    return prompt


def notice_prompt(view: KioskView) -> Text | None:
    """The view's notice and the hub's message, in words; None when there is neither."""
    parts: list[Text] = []
    if view.notice is not None:
        known = NOTICE_PROMPTS.get(view.notice)
        if known is not None:
            args = dict(view.notice_args)
            parts.append(Text(_fill(known.zh, args), _fill(known.en, args)))
    if view.hub_message is not None:
        parts.append(view.hub_message)
    return _joined(parts) if parts else None


def refusal_prompt(line: ItemLine) -> Text:
    """Which book was refused, and why."""
    # The English voice cannot read Chinese characters (it says "Chinese letter" for
    # each): a Chinese title is named in the Chinese prompt only.
    book = Text(f"《{line.title}》", line.title if line.title.isascii() else _THIS_BOOK.en) if line.title else _THIS_BOOK
    reason = line.message or LOCAL_REASONS.get(line.reason_code or "") or REFUSED_FALLBACK
    head = Text(_REFUSED.zh.format(book=book.zh), _REFUSED.en.format(book=book.en))
    return _joined([head, reason])


def prompts_between(before: KioskView | None, after: KioskView) -> tuple[Text, ...]:
    """What to say when the screen goes from `before` to `after` (None: first view)."""
    said: list[Text] = []
    new_screen = before is None or (before.screen, before.language) != (after.screen, after.language)
    if new_screen:
        said.append(screen_prompt(after))
    notice = notice_prompt(after)
    if notice is not None and (new_screen or _notice_of(before) != _notice_of(after)):
        said.append(notice)
    refused_before = {_refusal_of(line) for line in before.items} if before is not None else set()
    for line in after.items:
        if line.status == "refused" and _refusal_of(line) not in refused_before:
            said.append(refusal_prompt(line))
    return tuple(dict.fromkeys(said))  # a notice that repeats its screen is said once


def _notice_of(view: KioskView | None) -> tuple[object, ...]:
    if view is None:
        return ()
    return (view.notice, view.notice_args, view.hub_message)


def _refusal_of(line: ItemLine) -> tuple[str, str, str | None]:
    return (line.barcode, line.status, line.reason_code)


def _fill(text: str, args: dict[str, str]) -> str:
    try:
        return text.format(**args)
    except (KeyError, IndexError, ValueError):
        return text


def _joined(parts: list[Text]) -> Text:
    return Text("".join(p.zh for p in parts), " ".join(p.en for p in parts))
