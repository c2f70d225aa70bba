"""The core's configuration: plain values plus the few pure lookups it needs injected.

Why lookups are injected: the scheme table and barcode rules are the alliance's contract
(`contract.card_schemes`, `contract.barcodes`); the core takes them as callables so
tests can pass simple stand-ins, and the defaults are the real functions
(`firmware.core.identify`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from contract.members import lending_schemes, member_names
from contract.settings import OFFLINE_LOAN_DAYS, OFFLINE_MAX_ITEMS
from contract.tag_data.record import DataModel
from firmware.core import identify
from firmware.view import Text


def _no_members() -> Mapping[str, str]:
    return MappingProxyType({})


def _alliance_lending_schemes() -> Mapping[str, frozenset[str]]:
    return MappingProxyType(lending_schemes())


def _alliance_library_names() -> Mapping[str, Text]:
    return MappingProxyType({member: Text(name.zh, name.en) for member, name in member_names().items()})


@dataclass(frozen=True)
class CoreConfig:
    """What the state machine needs to know about this kiosk.

    `institution_members` maps a 4-digit institution code (from item barcodes) to the
    member id of the book's home library; it is used to route returns while offline.
    `lending_schemes` maps a member id to the card schemes it lends to (the alliance's
    member data by default): offline, a card whose scheme may not borrow here is greeted
    as returns-only and lent nothing (firmware.core.recognition).
    `library_names` maps a member id to its names in both languages (the alliance's member
    data by default): the receipt names this kiosk's library, and a book routed without
    the hub's words (offline) names the library it goes to (`library_name`).

    There is no request timeout here: the hub link times requests out and always ends
    one with HubAnswered or HubTimedOut (firmware.hub_link.requests).
    """

    kiosk_id: str = "kiosk-1"
    library_id: str = "capital"
    default_language: str = "zh"
    inactivity_warn_s: float = 45.0
    inactivity_logout_s: float = 60.0
    summary_s: float = 10.0
    card_left_warn_s: float = 20.0
    notice_s: float = 10.0
    offline_loans_allowed: bool = True
    offline_max_items: int = OFFLINE_MAX_ITEMS
    offline_loan_days: int = OFFLINE_LOAN_DAYS  # why 28: contract.settings
    institution_members: Mapping[str, str] = field(default_factory=_no_members)
    lending_schemes: Mapping[str, frozenset[str]] = field(default_factory=_alliance_lending_schemes)
    library_names: Mapping[str, Text] = field(default_factory=_alliance_library_names)
    staff_scheme: str = "staff"
    recent_faults_kept: int = 10
    # A book-security unit is fitted ([security] kind != "none"): loans unsecure, returns
    # secure. False (the default): no security effects at all, behaviour as before.
    security: bool = False
    # RFID book tags ([rfid]): the data model the library writes its tags in, and whether
    # their security (AFI/EAS) is switched: a tagged book's tag is unsecured after its loan
    # and secured at its return. False: tags are read but never written.
    tag_data_model: DataModel = "iso28560-2"
    tag_security: bool = False
    # A stack laid on the pad before anyone could borrow is lent at the next greeting
    # only if it came this recently: books abandoned at the attract screen long ago are
    # nobody's to borrow, and the next reader must lay them down again to take them.
    pad_wait_s: float = 90.0
    identify_scheme: Callable[[str], str | None] = field(
        default_factory=lambda: identify.identify_scheme
    )
    classify_barcode: Callable[[str], identify.BarcodeInfo] = field(
        default_factory=lambda: identify.classify_barcode
    )
    card_hash: Callable[[str, str], str] = field(default_factory=lambda: identify.card_hash)
    blocklist_hash: Callable[[str, str, str], str] = field(
        default_factory=lambda: identify.blocklist_hash
    )


def library_name(config: CoreConfig, library_id: str | None) -> Text | None:
    """A member library's names (None for an id the alliance's data does not hold)."""
    return config.library_names.get(library_id) if library_id else None
