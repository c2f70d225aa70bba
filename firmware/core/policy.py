"""What the kiosk allows a reader, decided from the state and the kiosk's config.

The flows (`borrow`, `session`, `timers`) decide with these, and the view
(`render`) shows the same figures, so the number of books a reader is told they
may borrow offline is the number the borrow flow lets them take. Pure functions:
no clock is read here (`state.now` is the core's clock).
"""

from __future__ import annotations

from firmware.core.config import CoreConfig
from firmware.core.state import Reader, State

# The screens of an open session: the inactivity countdown and auto-logout run on these.
SESSION_SCREENS: frozenset[str] = frozenset({"pin", "borrow", "returns", "help", "technician"})


def offline_limit(state: State, config: CoreConfig) -> int:
    """Items a reader may borrow per session while offline: the kiosk's own
    `offline_max_items`, or the hub's figure when it sent a smaller one. At a kiosk the
    hub can only lower the kiosk's cap, so a mistaken blocklist answer cannot raise it.
    A van (profile "van") takes the hub's figure as it is, larger too: the hub sends a
    van's larger limit only to a kiosk its own config names as a van (`[hub] van_kiosks`),
    judges the loans by the same figure, and its answers are signed."""
    if state.blocklist_max_items is not None and config.profile == "van":
        return state.blocklist_max_items
    if state.blocklist_max_items is not None:
        return min(config.offline_max_items, state.blocklist_max_items)
    return config.offline_max_items


def on_blocklist(state: State, reader: Reader, config: CoreConfig) -> bool:
    """Whether the cached blocklist names this reader's card: hashed with the salt the
    hub sent with the list, or, from a hub that sends none, the plain `card_hash`."""
    if state.blocklist_salt is None:
        return reader.card_hash in state.blocked_hashes
    card = reader.card
    return config.blocklist_hash(state.blocklist_salt, card.scheme, card.number) in state.blocked_hashes


def idle_s(state: State) -> float:
    """Seconds since the reader last touched the kiosk (the inactivity logout's measure)."""
    return state.now - state.last_input_at
