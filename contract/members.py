"""The alliance's member libraries as every kiosk knows them: id, names, institution code.

The full directory (names, services, which card schemes each member honours) is in
`contract/data/members.toml`; the hub validates all of it (`hub.rules.registry`). A kiosk needs
three things from it, online or not: the institution code -> member map (to route
returns offline), which card schemes each member lends to (so it does not lend offline
to a card the hub will refuse when the loan reaches it), and each member's Chinese and
English name (a reader reads 首都图书馆, never the id "capital", on screen and receipt).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, NamedTuple


class MemberName(NamedTuple):
    """A member library's name as readers read it, in Chinese and in English."""

    zh: str
    en: str


def read_data_file(name: str) -> bytes:
    """A packaged reference file: `members.toml` or `schemes.toml`."""
    return (resources.files("contract") / "data" / name).read_bytes()


@cache
def _packaged_members() -> Mapping[str, Any]:
    return MappingProxyType(tomllib.loads(read_data_file("members.toml").decode()))


def institution_members(document: Mapping[str, Any] | None = None) -> dict[str, str]:
    """institution code -> member id, from the packaged members.toml (or `document`)."""
    doc = document if document is not None else _packaged_members()
    return {m["institution_code"]: m["id"] for m in doc.get("member", [])}


def lending_schemes(document: Mapping[str, Any] | None = None) -> dict[str, frozenset[str]]:
    """member id -> the card schemes it lends to (its `accepts.borrow`), from the packaged
    members.toml (or `document`). A member that does not offer "borrow" at all (the
    National Library while its old building is renovated) lends to no scheme: the same
    rule as `hub.rules.registry.Registry.accepts(member, "borrow", scheme)`."""
    doc = document if document is not None else _packaged_members()
    lends: dict[str, frozenset[str]] = {}
    for member in doc.get("member", []):
        offers_borrow = "borrow" in member.get("services", ())
        schemes = member.get("accepts", {}).get("borrow", ()) if offers_borrow else ()
        lends[member["id"]] = frozenset(schemes)
    return lends


def member_names(document: Mapping[str, Any] | None = None) -> dict[str, MemberName]:
    """member id -> its Chinese and English names, from the packaged members.toml (or
    `document`): the same names the hub sends as `route_library_name`."""
    doc = document if document is not None else _packaged_members()
    return {m["id"]: MemberName(m["name_zh"], m["name_en"]) for m in doc.get("member", [])}
