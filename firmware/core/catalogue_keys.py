"""Every message-catalogue key the core puts in a view, with an English gloss.

The UI engineer translates these; a test checks that the core uses no key missing
here. Words that come from the hub (refusal messages, titles) arrive bilingual and are
not listed.
"""

from __future__ import annotations

from types import MappingProxyType

from firmware.view import Text

NOTICE_KEYS: MappingProxyType[str, str] = MappingProxyType(
    {
        "notice.card_unreadable": "This card could not be read. Hold it flat on the reader.",
        "notice.card_not_library": "This is not a library card the alliance recognises.",
        "notice.one_card_at_a_time": "More than one card is on the reader: leave only your own library card there and take the others away.",
        "notice.card_refused": "This card cannot be used here (see the message).",
        "notice.try_again": "Something went wrong. Please try again.",
        "notice.pin_wrong": "Wrong PIN. Please try again (the PIN screen shows the attempts left).",
        "notice.pin_locked": "Too many wrong PINs: the card is locked for a while.",
        "notice.pin_format": "A PIN has 4 to 8 digits.",
        "notice.staff_needs_hub": "Staff cards need the library network; it is not reachable.",
        "notice.offline_reader": "The library network is down: you may borrow up to {max_items} books.",
        "notice.offline_no_loans": "The library network is down: borrowing is paused, returns are accepted.",
        "notice.offline_returns_only": "The library network is down. This card cannot borrow at this library; you can return books.",
        "notice.lift_card_and_tap": "Your card is still on the reader: lift it off and tap it again.",
        "notice.ecard_refused": "This phone e-card cannot be used (see the message).",
        "notice.ecard_unreadable": "This QR code is not a library e-card. Refresh it in the app, or tap your card.",
        "notice.ecard_needs_hub": "A phone e-card needs the library network; it is not reachable. Please tap your card.",
        "notice.finish_first": "Please finish the current session first.",
        "notice.tap_card_first": "Please tap your library card first.",
        "notice.book_drop_returns_only": "This is a book drop: returns only. To borrow, use a library kiosk.",
        "notice.enter_pin_first": "Please enter your PIN first.",
        "notice.already_scanned": "This book is already on your list: {book} (its title, else its barcode).",
        "notice.barcode_unreadable": "The barcode could not be read. Try again.",
        "notice.tag_unreadable": "One book's tag could not be read: scan its barcode, or see staff.",
        "notice.pad_stack_stale": "Books were already lying on the pad: to borrow them, lift them and lay them down again.",
        "notice.please_wait": "Still checking a book: please wait a moment.",
        "notice.renew_needs_hub": "Renewing needs the library network; it is not reachable.",
        "notice.nothing_to_renew": "You have no loans to renew.",
        "notice.returns_instructions": "Put books into the return slot one at a time, spine first.",
        "notice.book_taken_back": "The book was taken back out of the slot.",
        "notice.book_taken_back_named": "The book was taken back out of the slot: {book} (its title, else its barcode).",
        "notice.book_unidentified": "A book could not be identified: staff will check it.",
        "notice.one_book_at_a_time": "One book at a time, please.",
        "notice.returns_paused": "Returns are paused at the moment.",
        "notice.take_your_card": "Please take your card with you.",
        "notice.staff_called": "A member of staff has been called.",
        "notice.logged_out": "You were logged out after a period of inactivity.",
        "notice.card_reader_down_returns_only": "The card reader is out of order: returns still work.",
        "notice.scanner_down": "The barcode scanner is out of order: borrowing is paused.",
        "notice.selftest_running": "Self-test running.",
    }
)

# ItemLine.status values the core produces.
ITEM_STATUSES: MappingProxyType[str, str] = MappingProxyType(
    {
        "checking": "Being checked (or waiting its turn).",
        "loaned": "Borrowed; due date shown.",
        "offline_loaned": "Borrowed while the network was down; due date shown.",
        "renewed": "Renewed; new due date shown.",
        "returned": "Returned; route shown (shelve here, transfer, hold).",
        "refused": "Not done; reason shown.",
    }
)

# reason_code values the core itself sets (the hub's own codes pass through unchanged),
# with the bilingual message shown when the hub did not send one.
LOCAL_REASONS: MappingProxyType[str, Text] = MappingProxyType(
    {
        "bad_barcode": Text("条码无法识别，请重新扫描图书条码。", "This barcode is not valid. Scan the book's library barcode."),
        "not_an_item": Text("这不是图书条码，请扫描馆藏条码。", "This is not a book barcode. Scan the library barcode on the book."),
        "offline_not_allowed": Text("网络中断，暂不能借书。", "The network is down: borrowing is not possible now."),
        "limit_reached_offline": Text("网络中断时最多可借的册数已满。", "You have reached the limit for borrowing while the network is down."),
        "limit_reached": Text("已达到可借册数上限。", "You have reached your borrowing limit."),
        "hub_unreachable": Text("无法连接图书馆系统，请稍后再试。", "The library system cannot be reached. Please try later."),
        "hub_error": Text("图书馆系统出错，请稍后再试。", "The library system reported an error. Please try later."),
        # a set with parts missing on the pad; the line normally shows the set's own
        # words ("2 of 3 parts present", contract.tag_data.sets)
        "set_incomplete": Text(
            "这套资料缺少部分，请把全部部分一起放在读写区上。",
            "Parts of this item are missing: put all its parts on the pad together.",
        ),
        "out_of_service": Text("本机暂停服务，未办理。", "This kiosk is out of service: not done."),
        "card_expired": Text("读者证已过期。", "This card has expired."),
        "card_blocked": Text("读者证已被停用。", "This card is blocked."),
        "card_unknown": Text("未找到该读者证。", "This card is not known."),
        # the hub's own words (hub.rules.rules.REASONS), for the scheme rules applied offline
        "scheme_not_accepted": Text(
            "本馆不能用这种读者卡借书，但可以还书。",
            "This library cannot lend on this kind of card, but you can return books here.",
        ),
        "service_suspended": Text(
            "本馆暂停外借，可以还书和阅览。",
            "Lending is suspended at this library. You can still return books and read here.",
        ),
        "home_lending_suspended": Text(
            "这本书所属的图书馆暂停外借，现在不能借出，可以在馆内阅读。",
            "The library this book belongs to has suspended lending: it cannot be borrowed "
            "now. You may read it here.",
        ),
    }
)

CARD_STATE_REASONS: MappingProxyType[str, str] = MappingProxyType(
    {"expired": "card_expired", "blocked": "card_blocked", "unknown": "card_unknown"}
)


def local_message(reason_code: str) -> Text | None:
    return LOCAL_REASONS.get(reason_code)
