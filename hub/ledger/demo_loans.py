"""Which demo books a demo card can really borrow, library by library: for `python -m hub
demo` and the simulator panel's scan buttons, so a newcomer's first scan is lent.

The answer is the loan rules' own (`hub.rules.rules`), never a second opinion: the card
is asked `reader_status` at each library (a library that lends nothing, as the National
Library while its old building is renovated, says why), then each of the library's own
first books is asked `checkout_decision`. Book states come from `item_of` (the ledger
when there is one, so a book a scenario lent is no longer offered) or the generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.ledger.catalogue import STABLE_SERIALS, generate_items, item_barcode
from hub.rules import rules
from hub.rules.registry import Registry
from hub.rules.rules import Decision, ItemRecord, ReaderRecord

# The libraries a newcomer meets first: the kiosk `make run` starts is the Capital
# Library's; Dongcheng's books go through its own system; the National Library lends nothing.
DEMO_LIBRARIES: tuple[str, ...] = ("capital", "xicheng", "dongcheng", "chaoyang", "haidian", "nlc")
SHOWN_PER_LIBRARY = 3

ItemLookup = Callable[[str], ItemRecord | None]


@dataclass(frozen=True)
class LibraryOffer:
    """What `reader` may borrow at `library_id` now: `books` (its own, in serial order),
    or, when the card may borrow nothing there, `refused` (the rules' reason and words)."""

    library_id: str
    name_zh: str
    name_en: str
    books: tuple[ItemRecord, ...]
    refused: Decision | None = None


def generated_items(registry: Registry, library_ids: Sequence[str]) -> ItemLookup:
    """Item states as the generator seeds them (no ledger yet): the first serials of
    each library in `library_ids`."""
    wanted = set(library_ids)
    known: dict[str, ItemRecord] = {}
    for item in generate_items(registry, per_member=STABLE_SERIALS):
        if item.home_library in wanted:
            known[item.barcode] = item
    return known.get


def offer_at(
    registry: Registry,
    reader: ReaderRecord,
    library_id: str,
    item_of: ItemLookup,
    now: datetime,
    active_loans: int = 0,
    limit: int = SHOWN_PER_LIBRARY,
) -> LibraryOffer:
    """The first `limit` books of `library_id`'s own that `reader` may borrow there now."""
    member = registry.member(library_id)
    status = rules.reader_status(
        registry, reader, library_id, now.astimezone(rules.SHANGHAI).date()
    )
    if not status.allowed:
        return LibraryOffer(library_id, member.name_zh, member.name_en, (), status)
    books: list[ItemRecord] = []
    for serial in range(1, STABLE_SERIALS + 1):
        item = item_of(item_barcode(registry, library_id, serial))
        if item is None:
            continue
        decision = rules.checkout_decision(registry, reader, item, library_id, active_loans, now)
        if decision.allowed:
            books.append(item)
            if len(books) >= limit:
                break
    return LibraryOffer(library_id, member.name_zh, member.name_en, tuple(books))


def offers(
    registry: Registry,
    reader: ReaderRecord,
    item_of: ItemLookup,
    now: datetime,
    active_loans: int = 0,
    library_ids: Sequence[str] = DEMO_LIBRARIES,
) -> list[LibraryOffer]:
    """`offer_at` for each library of `library_ids` that the registry has."""
    return [
        offer_at(registry, reader, lid, item_of, now, active_loans)
        for lid in library_ids
        if lid in registry.members
    ]


def loanable_first(
    registry: Registry,
    reader: ReaderRecord,
    library_id: str,
    barcodes: Sequence[str],
    item_of: ItemLookup,
    now: datetime,
) -> list[str]:
    """`barcodes` reordered for a demo at `library_id`: first those the rules lend
    `reader` there now, then those they refuse (in transit, on loan, held for another),
    last the books of a library that lends nothing itself (the National Library's while
    its lending is suspended). Stable within each group."""

    def rank(barcode: str) -> int:
        item = item_of(barcode)
        home = registry.members.get(item.home_library) if item is not None else None
        if home is not None and not home.lends:
            return 2
        allowed = rules.checkout_decision(registry, reader, item, library_id, 0, now).allowed
        return 0 if allowed else 1

    return sorted(barcodes, key=rank)
