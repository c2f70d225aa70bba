"""Loan rules as pure decisions: the ledger passes plain records in and gets a verdict back.

No I/O, no clock, no database here, so every rule is testable with literals and the same
functions serve the live hub and the offline replay. Every refusal carries a reason code
and a plain-language message in Chinese and English (many readers are elderly): the kiosk
shows the message, logs the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType

from contract.privacy import card_hash
from contract.settings import alliance_timezone
from hub.rules.registry import Member, Registry

# The alliance's local time (UTC+8, Beijing), defined once in contract.settings. Rules
# also replay offline txns, where no hub config is at hand, so they use the alliance's.
SHANGHAI = alliance_timezone()


@dataclass(frozen=True)
class ReaderRecord:
    """A reader card as the ledger knows it. `state` is "valid", "expired" or "blocked";
    `block_reason` is "lost", "overdue" or "fees" when blocked."""

    scheme: str
    number: str
    name: str
    state: str
    block_reason: str | None
    expires: date
    home_library: str


@dataclass(frozen=True)
class ItemRecord:
    """A copy of a book. `state` is "on_shelf", "on_loan", "in_transit" or "on_hold";
    `hold_for` is the card hash (`card_hash`) of the reader it is held for, if any."""

    barcode: str
    title: str
    home_library: str
    state: str
    hold_for: str | None = None
    loanable: bool = True


@dataclass(frozen=True)
class Decision:
    """A verdict. Refusals have `reason_code` and both messages; loans and renewals `due`."""

    allowed: bool
    reason_code: str | None = None
    message_zh: str = ""
    message_en: str = ""
    due: datetime | None = None


@dataclass(frozen=True)
class Route:
    """Where a returned book goes: "shelve" here, "transfer" to a library, or "hold" shelf."""

    route: str
    library_id: str


REASONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "card_unknown": (
            "系统里查不到这张卡，请到服务台询问。",
            "We cannot find this card. Please ask at the service desk.",
        ),
        "card_misread": (
            "卡号没有读清楚，请把卡拿开，再刷一次。",
            "The card number was not read correctly. Please take the card away and tap it again.",
        ),
        "card_expired": (
            "您的读者卡已过期，请到服务台续期。",
            "Your card has expired. Please renew it at the service desk.",
        ),
        "card_blocked": (
            "您的读者卡暂时不能使用，请到服务台询问。",
            "Your card cannot be used at the moment. Please ask at the service desk.",
        ),
        "card_blocked_lost": (
            "这张卡已经挂失，不能使用。请到服务台办理。",
            "This card has been reported lost and cannot be used. Please go to the service desk.",
        ),
        "card_blocked_overdue": (
            "您有超过还书日期的书，请先还书，再借新书。",
            "You have overdue books. Please return them before borrowing more.",
        ),
        "card_blocked_fees": (
            "您有未交的费用，请到服务台处理后再借书。",
            "You have unpaid fees. Please settle them at the service desk before borrowing.",
        ),
        "staff_card": (
            "这是工作人员卡，不能借书。",
            "This is a staff card. It cannot be used to borrow books.",
        ),
        "scheme_not_accepted": (
            "本馆不能用这种读者卡借书，但可以还书。",
            "This library cannot lend on this kind of card, but you can return books here.",
        ),
        "service_suspended": (
            "本馆暂停外借，可以还书和阅览。",
            "Lending is suspended at this library. You can still return books and read here.",
        ),
        "item_unknown": (
            "系统里查不到这本书，请交给服务台。",
            "We cannot find this book. Please hand it to the service desk.",
        ),
        "item_not_loanable": (
            "这本书只能在馆内阅读，不能借出。",
            "This book is for reading in the library only and cannot be borrowed.",
        ),
        "home_lending_suspended": (
            "这本书所属的图书馆暂停外借，现在不能借出，可以在馆内阅读。",
            "The library this book belongs to has suspended lending: it cannot be borrowed "
            "now. You may read it here.",
        ),
        "item_on_loan": (
            "系统显示这本书已经借出，请交给服务台。",
            "This book is recorded as already on loan. Please hand it to the service desk.",
        ),
        "item_in_transit": (
            "这本书正在送往别的图书馆，请交给服务台。",
            "This book is on its way to another library. Please hand it to the service desk.",
        ),
        "item_on_hold": (
            "这本书已经为别的读者预约保留，现在不能借。",
            "This book is reserved for another reader and cannot be borrowed now.",
        ),
        "limit_reached": (
            "您借的书已经到了上限，请先还几本再借。",
            "You have reached your limit of books. Please return some before borrowing more.",
        ),
        "renew_limit": (
            "这本书续借次数已满，不能再续借，请按时归还。",
            "This book cannot be renewed again. Please return it by the due date.",
        ),
        "renew_on_hold": (
            "有别的读者在等这本书，不能续借，请按时归还。",
            "Another reader is waiting for this book, so it cannot be renewed. Please return it by the due date.",
        ),
        "renew_overdue": (
            "这本书已经超过还书日期，不能续借，请尽快归还。",
            "This book is overdue and cannot be renewed. Please return it soon.",
        ),
        "pin_wrong": (
            "密码不对，请再输一次。",
            "That PIN is not right. Please try again.",
        ),
        "pin_locked": (
            "密码输错次数太多，卡已暂时锁定。请稍后再试，或到服务台。",
            "Too many wrong PINs: your card is locked for a while. Please try later or ask at the service desk.",
        ),
    }
)

_BLOCK_REASONS: Mapping[str, str] = MappingProxyType(
    {"lost": "card_blocked_lost", "overdue": "card_blocked_overdue", "fees": "card_blocked_fees"}
)


def refusal(reason_code: str, note_zh: str = "", note_en: str = "") -> Decision:
    """A refusal with the reader's messages for `reason_code` (and an optional extra note)."""
    zh, en = REASONS[reason_code]
    if note_zh and note_en:
        zh, en = f"{zh}{note_zh}", f"{en} {note_en}"
    return Decision(False, reason_code, zh, en)


def end_of_day(day: date) -> datetime:
    """23:59:59 Beijing time on `day`: a book is due by closing, whatever hour it left."""
    return datetime.combine(day, time(23, 59, 59), SHANGHAI)


def due_after(now: datetime, days: int) -> datetime:
    """End of the day `days` days after `now`'s Beijing date (a naive `now` is Beijing time)."""
    local = now.astimezone(SHANGHAI) if now.tzinfo is not None else now.replace(tzinfo=SHANGHAI)
    return end_of_day(local.date() + timedelta(days=days))


def _beijing_date(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date() if now.tzinfo is not None else now.date()


def _card_problem(registry: Registry, reader: ReaderRecord | None, today: date) -> Decision | None:
    """Why this card cannot be used at all today, or None."""
    if reader is None or reader.scheme not in registry.schemes:
        return refusal("card_unknown")
    if registry.schemes[reader.scheme].technician:
        return refusal("staff_card")
    if reader.state == "blocked":
        return refusal(_BLOCK_REASONS.get(reader.block_reason or "", "card_blocked"))
    if reader.state == "expired" or reader.expires < today:
        return refusal("card_expired")
    if reader.state != "valid":
        return refusal("card_blocked")
    return None


def _owner(registry: Registry, item: ItemRecord) -> Member | None:
    """The member a book belongs to: its record's home, else the institution code
    printed in its barcode."""
    return registry.members.get(item.home_library) or registry.member_for_barcode(item.barcode)


def _lending_problem(registry: Registry, member: Member, scheme_id: str) -> Decision | None:
    if not member.lends:
        return refusal("service_suspended", member.note_zh, member.note_en)
    if not registry.accepts(member.id, "borrow", scheme_id):
        return refusal("scheme_not_accepted")
    return None


def reader_status(
    registry: Registry, reader: ReaderRecord | None, library_id: str, today: date
) -> Decision:
    """Can this reader borrow at this library today? Allowed means yes.

    A refusal for `scheme_not_accepted` or `service_suspended` still lets the reader
    return books (returns need no card); the message says so. Raises RegistryError for an
    unknown `library_id` (a kiosk configuration fault, not the reader's).
    """
    member = registry.member(library_id)
    problem = _card_problem(registry, reader, today)
    if problem is None:
        assert reader is not None
        problem = _lending_problem(registry, member, reader.scheme)
    return problem or Decision(True)


def checkout_decision(
    registry: Registry,
    reader: ReaderRecord | None,
    item: ItemRecord | None,
    library_id: str,
    active_loans: int,
    now: datetime,
    reader_hash: str | None = None,
) -> Decision:
    """May this reader borrow this item here, now? If so, `due` is the end of the day
    `loan_days` (of the card's scheme) from today, Beijing time.

    Checked in the order a reader understands: the library lends at all, the card works,
    the card is honoured here, the book exists and may leave (its own library lends it:
    `home_lending_suspended`), nobody else has it or is
    waiting for it, the reader is under the limit. `reader_hash` defaults to the card's hash.
    """
    member = registry.member(library_id)
    if not member.lends:
        return refusal("service_suspended", member.note_zh, member.note_en)
    problem = _card_problem(registry, reader, _beijing_date(now))
    if problem is not None:
        return problem
    assert reader is not None
    problem = _lending_problem(registry, member, reader.scheme)
    if problem is not None:
        return problem
    if item is None:
        return refusal("item_unknown")
    if not item.loanable:
        return refusal("item_not_loanable")
    owner = _owner(registry, item)
    if owner is not None and not owner.lends:
        # borrow anywhere lends a member's books on its own terms: a member that lends
        # nothing (the National Library while its old building is renovated) lends none
        # of its books at another library either
        return refusal("home_lending_suspended", owner.note_zh, owner.note_en)
    if item.state == "on_loan":
        return refusal("item_on_loan")
    if item.state == "in_transit":
        return refusal("item_in_transit")
    holder = reader_hash or card_hash(reader.scheme, reader.number)
    if (item.state == "on_hold" or item.hold_for is not None) and item.hold_for != holder:
        return refusal("item_on_hold")
    scheme = registry.schemes[reader.scheme]
    if active_loans >= scheme.max_items:
        return refusal("limit_reached")
    return Decision(True, due=due_after(now, scheme.loan_days))


def renew_decision(
    registry: Registry,
    reader: ReaderRecord | None,
    item: ItemRecord | None,
    loan_due: datetime,
    renewals_done: int,
    now: datetime,
    hold_waiting: bool,
) -> Decision:
    """May this loan be renewed now? The new due date counts `renew_days` from today but
    never shortens the loan. Overdue loans are not renewed (the reader should bring the
    book back; fines are the desk's business), nor are books another reader waits for."""
    problem = _card_problem(registry, reader, _beijing_date(now))
    if problem is not None:
        return problem
    assert reader is not None
    if item is None:
        return refusal("item_unknown")
    holder = card_hash(reader.scheme, reader.number)
    if hold_waiting or (item.hold_for is not None and item.hold_for != holder):
        return refusal("renew_on_hold")
    scheme = registry.schemes[reader.scheme]
    if renewals_done >= scheme.max_renewals:
        return refusal("renew_limit")
    if now > loan_due:
        return refusal("renew_overdue")
    return Decision(True, due=max(loan_due, due_after(now, scheme.renew_days)))


def route_return(
    registry: Registry, item: ItemRecord, library_id: str, hold_pickup_library: str | None
) -> Route:
    """Where a book returned at `library_id` goes next (return anywhere).

    A waiting hold wins: the hold shelf here if this is the pickup library, else a
    transfer there. Otherwise the book goes home: shelved here, or transferred.
    """
    registry.member(library_id)  # an unknown kiosk library is a configuration fault
    if hold_pickup_library:
        if hold_pickup_library == library_id:
            return Route("hold", library_id)
        return Route("transfer", hold_pickup_library)
    home = item.home_library
    if home not in registry.members:
        # the record's home is unknown: trust the institution code printed on the book
        owner = registry.member_for_barcode(item.barcode)
        home = owner.id if owner is not None else home
    if home == library_id:
        return Route("shelve", library_id)
    return Route("transfer", home)
