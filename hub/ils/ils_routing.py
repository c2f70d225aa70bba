"""Which member library system (SIP2) a card and a book belong to, and under which
patron id that system lends a book to a reader.

A card belongs to its issuing member: a joint card (bj-joint) by the two-digit issuing
district in its number (Beijing's district codes, `10` for the Capital Library), an NLC
card to the National Library, any other card to the home library the ledger has for it.
A book belongs to its home member: the ledger's home library, or the institution code in
its barcode. A member belongs to a system when `[sip2.members]` says so; every other
member stays on the hub's own catalogue.

What a caller may rely on: pure lookups, no I/O; `None` always means "the hub's own
catalogue"; a system lends to the reader's own id only when the card is of that system,
otherwise to the guest patron configured for the card's scheme, and `NoGuestPatron`
when there is none (the caller refuses, with a reason code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from contract.card_schemes import number_is_valid
from hub.rules.registry import Registry

# The issuing district of a joint card: Beijing's administrative district codes
# (1101xx), the two former districts included, and 10 for the Capital Library.
JOINT_CARD_ISSUERS: Mapping[str, tuple[str, str | None]] = MappingProxyType(
    {
        "01": ("东城区", None), "02": ("西城区", None), "03": ("东城区", "崇文区"),
        "04": ("西城区", "宣武区"), "05": ("朝阳区", None), "06": ("丰台区", None),
        "07": ("石景山区", None), "08": ("海淀区", None), "09": ("门头沟区", None),
        "11": ("房山区", None), "12": ("通州区", None), "13": ("顺义区", None),
        "14": ("昌平区", None), "15": ("大兴区", None), "16": ("怀柔区", None),
        "17": ("平谷区", None), "18": ("密云区", None), "19": ("延庆区", None),
    }
)  # fmt: skip
CAPITAL_ISSUER = "10"


class NoGuestPatron(LookupError):
    """The item's system has no guest patron for the card's scheme: it cannot lend to
    this reader. `system` and `scheme` say which entry of `guest_patrons` is missing."""

    def __init__(self, system: str, scheme: str) -> None:
        super().__init__(f"system {system!r} has no guest patron for card scheme {scheme!r}")
        self.system = system
        self.scheme = scheme


@dataclass(frozen=True)
class Patron:
    """Who a system lends to: the reader's own id, or a guest patron standing for them."""

    patron_id: str
    guest: bool


@dataclass(frozen=True)
class IlsRouting:
    """Members to systems (`[sip2.members]`) and each system's guest patrons."""

    registry: Registry
    members: Mapping[str, str]  # member id -> system name
    guest_patrons: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # system -> scheme -> id

    def __post_init__(self) -> None:
        unknown = sorted(set(self.members) - set(self.registry.members))
        if unknown:
            raise ValueError(f"sip2.members: {unknown[0]!r} is not an alliance member")

    @property
    def systems(self) -> tuple[str, ...]:
        """The systems at least one member lives in, in config order."""
        return tuple(dict.fromkeys(self.members.values()))

    def system_of_member(self, member_id: str | None) -> str | None:
        return self.members.get(member_id) if member_id else None

    # -- cards

    def card_member(self, scheme: str, number: str, ledger_home: str | None = None) -> str | None:
        """The member that issued this card, or None when it cannot be told."""
        if scheme == "bj-joint" and number_is_valid(scheme, number):
            code = number[2:4]
            if code == CAPITAL_ISSUER:
                return "capital" if "capital" in self.registry.members else None
            return self._district_library(code)
        if scheme == "nlc":
            return "nlc" if "nlc" in self.registry.members else None
        return ledger_home if ledger_home in self.registry.members else None

    def card_system(self, scheme: str, number: str, ledger_home: str | None = None) -> str | None:
        """The system that keeps this card's reader, or None (the hub's own ledger)."""
        return self.system_of_member(self.card_member(scheme, number, ledger_home))

    def _district_library(self, code: str) -> str | None:
        issuer = JOINT_CARD_ISSUERS.get(code)
        if issuer is None:
            return None
        district, former = issuer
        for member in self.registry.members.values():
            if member.kind == "district" and member.district == district and member.former_district == former:
                return member.id
        return None

    # -- items

    def item_member(self, barcode: str, ledger_home: str | None = None) -> str | None:
        """The book's home member: the ledger's, else the institution code in its barcode."""
        if ledger_home in self.registry.members:
            return ledger_home
        owner = self.registry.member_for_barcode(barcode)
        return owner.id if owner is not None else None

    def item_system(self, barcode: str, ledger_home: str | None = None) -> str | None:
        """The system that keeps this book, or None (the hub's own catalogue)."""
        return self.system_of_member(self.item_member(barcode, ledger_home))

    # -- lending

    def patron_for(self, system: str, scheme: str, number: str, card_system: str | None) -> Patron:
        """Whom `system` lends to for this card: the reader when the card is of `system`,
        else the guest patron for the card's scheme; NoGuestPatron when none is set."""
        if card_system == system:
            return Patron(number, guest=False)
        guest = self.guest_patrons.get(system, {}).get(scheme)
        if guest is None:
            raise NoGuestPatron(system, scheme)
        return Patron(guest, guest=True)
