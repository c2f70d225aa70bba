"""The simulated library's records: items, patrons, guest patrons and the system's identity.

A `Library` is plain data, loaded from a TOML or JSON file (`load_library`) or built
directly from arguments in a test. It holds no SIP2 and no rules; `circulation.py` owns
what may happen to these records. The file layout is the one of `data/dongcheng.toml`:

    institution = "capital"          # AO
    library_name = "东城区图书馆"
    location = "dongcheng"           # default home location of items
    loan_days = 30
    max_renewals = 2
    repeat_checkout = "renew"        # or "refuse": see circulation.py
    [login]                          # optional: when present, 93 must match it
    user = "alliance"
    password = "..."
    [[item]]                         # barcode, title; optional: location, status,
    barcode = "30101000000018"       #   patron, due (YYYY-MM-DD), holds
    title = "长恨歌 / 王安忆 著"
    [[patron]]                       # id, name; optional: pin, blocked, block_reason,
    id = "0101000012373"             #   guest (a virtual patron standing for a partner)
    name = "冯兰"
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ITEM_STATUSES = ("available", "charged", "on_hold_shelf", "in_transit", "missing")
REPEAT_CHECKOUTS = ("renew", "refuse")


class LibraryDataError(ValueError):
    """The data file is malformed; the message names the file and the record."""


@dataclass(frozen=True)
class Hold:
    """A hold on an item: `patron` (any id, not necessarily ours) collects it at `pickup`."""

    patron: str
    pickup: str


@dataclass
class Item:
    """An item and its circulation state. `patron` is set when charged (or held on the
    hold shelf for that patron); `due` only when charged."""

    barcode: str
    title: str
    location: str
    status: str = "available"
    patron: str | None = None
    due: date | None = None
    renewals: int = 0
    holds: list[Hold] = field(default_factory=list)


@dataclass(frozen=True)
class Patron:
    """A patron. `pin` None means no PIN is checked (guest patrons: the alliance has
    already checked the real reader at the card's own system)."""

    id: str
    name: str
    pin: str | None = None
    blocked: bool = False
    block_reason: str = ""
    guest: bool = False


@dataclass
class Library:
    """One library system's identity and records, keyed by barcode and patron id."""

    institution: str
    library_name: str
    location: str
    items: dict[str, Item]
    patrons: dict[str, Patron]
    login_user: str | None = None
    login_password: str | None = None
    loan_days: int = 30
    max_renewals: int = 2
    repeat_checkout: str = "renew"  # a checkout of an item already out to the patron

    @classmethod
    def build(
        cls,
        *,
        institution: str,
        library_name: str = "",
        location: str = "",
        items: Iterable[Item] = (),
        patrons: Iterable[Patron] = (),
        login: tuple[str, str] | None = None,
        loan_days: int = 30,
        max_renewals: int = 2,
        repeat_checkout: str = "renew",
    ) -> Library:
        """A library from arguments (tests): lists of items and patrons, optional login."""
        if repeat_checkout not in REPEAT_CHECKOUTS:
            raise ValueError(f"repeat_checkout {repeat_checkout!r} not in {REPEAT_CHECKOUTS}")
        return cls(
            institution=institution,
            library_name=library_name,
            location=location or institution,
            items={i.barcode: i for i in items},
            patrons={p.id: p for p in patrons},
            login_user=login[0] if login else None,
            login_password=login[1] if login else None,
            loan_days=loan_days,
            max_renewals=max_renewals,
            repeat_checkout=repeat_checkout,
        )

    def charged_to(self, patron_id: str) -> list[str]:
        """Barcodes charged to this patron, in barcode order."""
        return sorted(
            b for b, i in self.items.items() if i.status == "charged" and i.patron == patron_id
        )


def load_library(path: Path | str) -> Library:
    """Read a library from a `.toml` or `.json` file (same layout for both)."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
        else:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LibraryDataError(f"{path}: {exc}") from exc
    return library_from_mapping(doc, label=str(path))


def library_from_mapping(doc: dict[str, Any], label: str = "<data>") -> Library:
    """Build a library from the parsed file layout described in the module docstring."""
    try:
        location = doc.get("location") or doc["institution"]
        items = [_item(raw, location) for raw in doc.get("item", [])]
        patrons = [_patron(raw) for raw in doc.get("patron", [])]
        login = doc.get("login")
        library = Library.build(
            institution=str(doc["institution"]),
            library_name=str(doc.get("library_name", "")),
            location=str(location),
            items=items,
            patrons=patrons,
            login=(str(login["user"]), str(login["password"])) if login else None,
            loan_days=int(doc.get("loan_days", 30)),
            max_renewals=int(doc.get("max_renewals", 2)),
            repeat_checkout=str(doc.get("repeat_checkout", "renew")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LibraryDataError(f"{label}: bad or missing field: {exc}") from exc
    if len(library.items) != len(items) or len(library.patrons) != len(patrons):
        raise LibraryDataError(f"{label}: duplicate item barcode or patron id")
    return library


def _item(raw: dict[str, Any], default_location: str) -> Item:
    status = str(raw.get("status", "available"))
    if status not in ITEM_STATUSES:
        raise ValueError(f"item {raw.get('barcode')}: status {status!r} not in {ITEM_STATUSES}")
    due = raw.get("due")
    if isinstance(due, str):
        due = date.fromisoformat(due)
    return Item(
        barcode=str(raw["barcode"]),
        title=str(raw["title"]),
        location=str(raw.get("location", default_location)),
        status=status,
        patron=raw.get("patron"),
        due=due,
        renewals=int(raw.get("renewals", 0)),
        holds=[Hold(str(h["patron"]), str(h["pickup"])) for h in raw.get("holds", [])],
    )


def _patron(raw: dict[str, Any]) -> Patron:
    return Patron(
        id=str(raw["id"]),
        name=str(raw["name"]),
        pin=None if raw.get("pin") is None else str(raw["pin"]),
        blocked=bool(raw.get("blocked", False)),
        block_reason=str(raw.get("block_reason", "")),
        guest=bool(raw.get("guest", False)),
    )
