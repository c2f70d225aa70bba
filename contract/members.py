"""The alliance's member libraries as every kiosk knows them: id and institution code.

The full directory (names, services, which card schemes each member honours) is in
`contract/data/members.toml`; the hub validates all of it (`hub.registry`). A kiosk needs
only the institution code -> member map, to route returns while it is offline.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any


def read_data_file(name: str) -> bytes:
    """A packaged reference file: `members.toml` or `schemes.toml`."""
    return (resources.files("contract") / "data" / name).read_bytes()


def institution_members(document: dict[str, Any] | None = None) -> dict[str, str]:
    """institution code -> member id, from the packaged members.toml (or `document`)."""
    doc = document if document is not None else tomllib.loads(read_data_file("members.toml").decode())
    return {m["institution_code"]: m["id"] for m in doc.get("member", [])}
