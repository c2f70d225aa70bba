"""The alliance's member libraries and card schemes, loaded and checked once at start.

Recognition is per member, per service, per scheme (docs/architecture.md): `Member.accepts` maps
"borrow" / "return" / "read" to the card schemes honoured for it. Everything is validated
at load so a typo in a TOML file stops the hub with a message naming the member and field,
instead of refusing readers at a kiosk later.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from contract.card_schemes import NUMBER_FORMATS, institution_code_of, number_is_valid
from hub.rules.schemes import SERVICES, CardLevel, Scheme

LENDING_MEMBERS = 63  # the seed article: "北京63家可通借通还图书馆"
KINDS: frozenset[str] = frozenset(
    {"national", "municipal", "district", "street", "branch", "university"}
)
DISTRICTS: frozenset[str] = frozenset(
    {
        "东城区", "西城区", "朝阳区", "丰台区", "石景山区", "海淀区", "门头沟区", "房山区",
        "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区",
    }
)  # fmt: skip
FORMER_DISTRICTS: frozenset[str] = frozenset({"崇文区", "宣武区"})
_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CODE_RE = re.compile(r"[0-9]{4}")


class RegistryError(ValueError):
    """A members/schemes file that cannot be trusted, or an unknown member or scheme."""


@dataclass(frozen=True)
class Member:
    """One library: who it is, what it offers and which card schemes it honours for what."""

    id: str
    name_zh: str
    name_en: str
    district: str
    kind: str
    institution_code: str
    services: frozenset[str]
    accepts: Mapping[str, frozenset[str]] = field(hash=False)
    note_zh: str = ""
    note_en: str = ""
    lending_alliance: bool = True
    former_district: str | None = None
    measure: int | None = None  # the alliance measure that brings an extra member in

    @property
    def lends(self) -> bool:
        """It offers "borrow" at all (the National Library does not while its old building
        is renovated): who may borrow there is `Registry.accepts`."""
        return "borrow" in self.services


class Registry:
    """Members and schemes by id, read-only; build it with `load_registry`."""

    def __init__(self, members: Mapping[str, Member], schemes: Mapping[str, Scheme]) -> None:
        self.members: Mapping[str, Member] = MappingProxyType(dict(members))
        self.schemes: Mapping[str, Scheme] = MappingProxyType(dict(schemes))
        self._by_code: Mapping[str, Member] = MappingProxyType(
            {m.institution_code: m for m in self.members.values()}
        )

    def member(self, member_id: str) -> Member:
        """The member with this id; RegistryError (not KeyError) when there is none."""
        try:
            return self.members[member_id]
        except (KeyError, TypeError):
            raise RegistryError(f"unknown member library {member_id!r}") from None

    def scheme(self, scheme_id: str) -> Scheme:
        """The scheme with this id; RegistryError when there is none."""
        try:
            return self.schemes[scheme_id]
        except (KeyError, TypeError):
            raise RegistryError(f"unknown card scheme {scheme_id!r}") from None

    def lending_members(self) -> tuple[Member, ...]:
        """The 63 borrow-anywhere, return-anywhere members, in file (seed) order."""
        return tuple(m for m in self.members.values() if m.lending_alliance)

    def member_for_code(self, institution_code: str) -> Member | None:
        return self._by_code.get(institution_code)

    def member_for_barcode(self, barcode: str) -> Member | None:
        """The member whose institution code is inside a valid 14-digit item barcode.

        None for anything else (wrong length, not an item barcode, bad check digit, a code
        no member has): a misread barcode must not be routed to a library.
        """
        code = institution_code_of(barcode)
        return None if code is None else self._by_code.get(code)

    def accepts(self, member_id: str, service: str, scheme_id: str) -> bool:
        """Does this member honour cards of `scheme_id` for `service`?

        False when the member does not offer the service at all (NLC lending is suspended);
        RegistryError for an unknown member, since that is a kiosk configuration fault.
        """
        member = self.member(member_id)
        if service not in member.services:
            return False
        return scheme_id in member.accepts.get(service, frozenset())


# ---------------------------------------------------------------------------- loading


def load_registry(members_path: Path | None = None, schemes_path: Path | None = None) -> Registry:
    """Load and validate members and schemes (defaults: the files packaged in hub/data).

    Raises RegistryError naming the file, the member or scheme and the field at fault.
    """
    schemes_doc = _read_toml(schemes_path, "schemes.toml")
    schemes = _parse_schemes(schemes_doc, _label(schemes_path, "schemes.toml"))
    members_doc = _read_toml(members_path, "members.toml")
    members = _parse_members(members_doc, schemes, _label(members_path, "members.toml"))
    return Registry(members, schemes)


def _label(path: Path | None, default: str) -> str:
    return default if path is None else str(path)


def _read_toml(path: Path | None, default_name: str) -> dict[str, Any]:
    label = _label(path, default_name)
    try:
        if path is None:
            raw = (resources.files("contract") / "data" / default_name).read_bytes()
        else:
            raw = Path(path).read_bytes()
    except OSError as exc:
        raise RegistryError(f"{label}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RegistryError(f"{label}: not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{label}: not valid TOML: {exc}") from None


class _Fields:
    """Typed access to one TOML table, with errors that name the entry and the field."""

    def __init__(self, table: Any, where: str, allowed: frozenset[str]) -> None:
        if not isinstance(table, dict):
            raise RegistryError(f"{where}: must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise RegistryError(f"{where}: field {unknown[0]!r}: unknown field")
        self.table = table
        self.where = where

    def fail(self, name: str, problem: str) -> RegistryError:
        return RegistryError(f"{self.where}: field {name!r}: {problem}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "missing")
            return default
        value = self.table[name]
        # bool is an int subclass: never let `true` pass as a number
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(name, f"expected {_type_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(name, f"expected {_type_name(kind)}, got {type(value).__name__}")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(name, "must not be empty")
        return value

    def count(self, name: str, default: Any = ..., minimum: int = 0) -> Any:
        value = self.get(name, int, default)
        if isinstance(value, int) and value < minimum:
            raise self.fail(name, f"must be >= {minimum}")
        return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "a string", int: "an integer", bool: "a boolean", list: "a list",
                        dict: "a table"}.get(k, k.__name__) for k in kinds)  # fmt: skip


_SCHEME_FIELDS = frozenset(
    {
        "id", "name_zh", "name_en", "pattern", "length", "example", "launched", "max_items",
        "loan_days", "max_renewals", "renew_days", "pin_required", "pin_length",
        "pin_max_attempts", "lockout_base_minutes", "lockout_later_minutes", "issuing_quota",
        "technician", "note_zh", "note_en", "level",
    }
)  # fmt: skip
_LEVEL_FIELDS = frozenset({"name_zh", "name_en", "deposit_yuan", "max_items"})


def _lockout_ladder(f: _Fields) -> tuple[int, ...]:
    """`lockout_later_minutes`: each further lockout's minutes, in turn, none shorter
    than the one before it (after the last, the card waits for staff)."""
    raw = f.get("lockout_later_minutes", list, [60, 24 * 60])
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in raw):
        raise f.fail("lockout_later_minutes", "must be a list of whole minutes, each at least 1")
    first = f.count("lockout_base_minutes", 15, minimum=1)
    if any(a > b for a, b in zip([first, *raw], raw, strict=False)):
        raise f.fail("lockout_later_minutes", "each lockout must last at least as long as the one before")
    return tuple(raw)


def _parse_schemes(doc: dict[str, Any], label: str) -> dict[str, Scheme]:
    extra = sorted(set(doc) - {"scheme"})
    if extra:
        raise RegistryError(f"{label}: unknown top-level key {extra[0]!r} (expected [[scheme]])")
    entries = doc.get("scheme")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{label}: no [[scheme]] entries")
    schemes: dict[str, Scheme] = {}
    for index, entry in enumerate(entries):
        sid = entry.get("id") if isinstance(entry, dict) else None
        where = (
            f"{label}: scheme {sid!r}" if isinstance(sid, str) else f"{label}: scheme #{index + 1}"
        )
        f = _Fields(entry, where, _SCHEME_FIELDS)
        sid = f.text("id")
        if sid in schemes:
            raise f.fail("id", "duplicate scheme id")
        fmt = NUMBER_FORMATS.get(sid)
        if fmt is None:
            raise f.fail("id", "no number format for this scheme in contract.card_schemes.NUMBER_FORMATS")
        pattern = f.text("pattern")
        if pattern != fmt.pattern:
            raise f.fail("pattern", f"disagrees with contract.card_schemes ({fmt.pattern!r})")
        length = f.count("length", minimum=1)
        if length != fmt.length:
            raise f.fail("length", f"disagrees with contract.card_schemes ({fmt.length})")
        example = f.text("example", None)
        if example is not None and not number_is_valid(sid, example):
            raise f.fail("example", "not a valid number of this scheme")
        pin_required = f.get("pin_required", bool)
        pin_length = f.count("pin_length", minimum=0)
        if pin_required and not 4 <= pin_length <= 8:
            raise f.fail("pin_length", "must be 4..8 when a PIN is required")
        levels = []
        raw_levels = f.get("level", list, [])
        for li, raw in enumerate(raw_levels):
            lf = _Fields(raw, f"{where}: level #{li + 1}", _LEVEL_FIELDS)
            levels.append(
                CardLevel(
                    lf.text("name_zh"), lf.text("name_en"),
                    lf.count("deposit_yuan"), lf.count("max_items", minimum=1),
                )
            )  # fmt: skip
        schemes[sid] = Scheme(
            id=sid,
            name_zh=f.text("name_zh"),
            name_en=f.text("name_en"),
            pattern=pattern,
            length=length,
            max_items=f.count("max_items"),
            loan_days=f.count("loan_days"),
            max_renewals=f.count("max_renewals"),
            renew_days=f.count("renew_days"),
            pin_required=pin_required,
            pin_length=pin_length,
            pin_max_attempts=f.count("pin_max_attempts", 5, minimum=1),
            lockout_base_minutes=f.count("lockout_base_minutes", 15, minimum=1),
            lockout_later_minutes=_lockout_ladder(f),
            technician=f.get("technician", bool, False),
            launched=f.count("launched", None),
            issuing_quota=f.count("issuing_quota", None, minimum=1),
            levels=tuple(levels),
            note_zh=f.get("note_zh", str, ""),
            note_en=f.get("note_en", str, ""),
        )
        scheme = schemes[sid]
        if not scheme.technician and (scheme.max_items < 1 or scheme.loan_days < 1):
            raise f.fail("max_items", "a reader scheme must allow at least one item for a day")
    return schemes


_MEMBER_FIELDS = frozenset(
    {
        "id", "name_zh", "name_en", "district", "former_district", "kind", "institution_code",
        "services", "accepts", "note_zh", "note_en", "lending_alliance", "measure",
    }
)  # fmt: skip


def _parse_members(
    doc: dict[str, Any], schemes: Mapping[str, Scheme], label: str
) -> dict[str, Member]:
    extra = sorted(set(doc) - {"member"})
    if extra:
        raise RegistryError(f"{label}: unknown top-level key {extra[0]!r} (expected [[member]])")
    entries = doc.get("member")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{label}: no [[member]] entries")
    members: dict[str, Member] = {}
    codes: dict[str, str] = {}
    names: dict[str, str] = {}
    for index, entry in enumerate(entries):
        mid = entry.get("id") if isinstance(entry, dict) else None
        where = (
            f"{label}: member {mid!r}" if isinstance(mid, str) else f"{label}: member #{index + 1}"
        )
        member = _parse_member(_Fields(entry, where, _MEMBER_FIELDS), schemes)
        f = _Fields(entry, where, _MEMBER_FIELDS)
        if member.id in members:
            raise f.fail("id", "duplicate member id")
        if member.institution_code in codes:
            raise f.fail(
                "institution_code",
                f"{member.institution_code} is already used by {codes[member.institution_code]!r}",
            )
        if member.name_zh in names:
            raise f.fail("name_zh", f"already used by {names[member.name_zh]!r}")
        members[member.id] = member
        codes[member.institution_code] = member.id
        names[member.name_zh] = member.id
    lending = sum(1 for m in members.values() if m.lending_alliance)
    if lending != LENDING_MEMBERS:
        raise RegistryError(
            f"{label}: {lending} members have lending_alliance = true; "
            f"the alliance lends among exactly {LENDING_MEMBERS}"
        )
    return members


def _parse_member(f: _Fields, schemes: Mapping[str, Scheme]) -> Member:
    mid = f.text("id")
    if not _ID_RE.fullmatch(mid):
        raise f.fail("id", "must be an ASCII slug: lower-case letters, digits and '-'")
    district = f.text("district")
    if district not in DISTRICTS:
        raise f.fail("district", f"unknown district {district!r}")
    former = f.text("former_district", None)
    if former is not None and former not in FORMER_DISTRICTS:
        raise f.fail("former_district", f"unknown former district {former!r}")
    kind = f.text("kind")
    if kind not in KINDS:
        raise f.fail("kind", f"unknown kind {kind!r} (expected one of {sorted(KINDS)})")
    code = f.text("institution_code")
    if not _CODE_RE.fullmatch(code):
        raise f.fail("institution_code", "must be exactly 4 digits, as a string")
    raw_services = f.get("services", list)
    services: set[str] = set()
    for s in raw_services:
        if s not in SERVICES:
            raise f.fail("services", f"unknown service {s!r} (expected borrow, return, read)")
        if s in services:
            raise f.fail("services", f"{s!r} listed twice")
        services.add(s)
    if not services:
        raise f.fail("services", "a member must offer at least one service")
    raw_accepts = f.get("accepts", dict)
    accepts: dict[str, frozenset[str]] = {}
    for service, scheme_ids in raw_accepts.items():
        if service not in services:
            raise f.fail("accepts", f"{service!r} is not among this member's services")
        if not isinstance(scheme_ids, list):
            raise f.fail("accepts", f"{service!r} must be a list of scheme ids")
        for sid in scheme_ids:
            if sid not in schemes:
                raise f.fail("accepts", f"{service!r}: unknown card scheme {sid!r}")
            if schemes[sid].technician:
                raise f.fail(
                    "accepts", f"{service!r}: {sid!r} is a staff scheme, not a reader card"
                )
        accepts[service] = frozenset(scheme_ids)
    if "borrow" in services and not accepts.get("borrow"):
        raise f.fail("accepts", "a member that lends must accept at least one scheme for 'borrow'")
    note_zh = f.get("note_zh", str, "")
    note_en = f.get("note_en", str, "")
    if bool(note_zh.strip()) != bool(note_en.strip()):
        raise f.fail("note_en" if note_zh.strip() else "note_zh", "notes come in both languages")
    lending = f.get("lending_alliance", bool)
    measure = f.count("measure", None, minimum=1)
    if lending and "borrow" not in services and not note_zh.strip():
        raise f.fail("note_zh", "a lending member that does not lend must say why (readers see it)")
    if lending and kind == "university":
        raise f.fail("kind", "university libraries are not among the 63 lending members")
    if not lending and measure is None:
        raise f.fail("measure", "an extra member must name the alliance measure that brings it in")
    return Member(
        id=mid,
        name_zh=f.text("name_zh"),
        name_en=f.text("name_en"),
        district=district,
        kind=kind,
        institution_code=code,
        services=frozenset(services),
        accepts=MappingProxyType(accepts),
        note_zh=note_zh,
        note_en=note_en,
        lending_alliance=lending,
        former_district=former,
        measure=measure,
    )
