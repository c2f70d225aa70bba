"""Which cards may borrow at this library: the alliance's scheme rules, applied by the
kiosk itself when the hub cannot be asked.

Recognition is per member, per service, per scheme (contract/data/members.toml): an NLC
card borrows at the Capital Library but only returns at a district library; a
university public card returns anywhere and borrows nowhere in the public network. The
hub applies the same rules (`hub.rules.rules.reader_status`); the kiosk applies them offline
so that it never lends a book the hub will later turn into a staff exception
(`scheme_not_accepted`), nor a book whose own library lends nothing
(`home_lending_suspended`). What a caller may rely on: `lending_refusal` says None exactly
when the member data lets this scheme borrow here, or when the kiosk's library is not
in that data (then the hub decides, as before).
"""

from __future__ import annotations

from firmware.core.config import CoreConfig
from firmware.core.identify import home_library

# Refusals that still leave the reader a reason to be here: returns need no card.
RETURNS_ONLY_REASONS: frozenset[str] = frozenset({"scheme_not_accepted", "service_suspended"})


def lending_refusal(config: CoreConfig, scheme: str) -> str | None:
    """Why a card of `scheme` may not borrow at this kiosk's library (a hub reason code:
    "service_suspended" when the library lends to nobody, "scheme_not_accepted" when it
    does not honour this scheme for loans), or None."""
    schemes = config.lending_schemes.get(config.library_id)
    if schemes is None:
        return None
    if not schemes:
        return "service_suspended"
    return None if scheme in schemes else "scheme_not_accepted"


def owner_refusal(config: CoreConfig, barcode: str) -> str | None:
    """"home_lending_suspended" when the book's own library (by the institution code in
    its barcode) lends nothing at all, so no member lends its books; else None (an
    unknown owner is the hub's to judge)."""
    owner = home_library(barcode, config.institution_members)
    if owner is None or owner == config.library_id:
        return None
    schemes = config.lending_schemes.get(owner)
    return "home_lending_suspended" if schemes is not None and not schemes else None
