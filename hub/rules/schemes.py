"""A card scheme's loan rules and PIN policy, as the hub applies them (from
`contract/data/schemes.toml`); number formats are in `contract.card_schemes`."""

from __future__ import annotations

from dataclasses import dataclass

SERVICES: frozenset[str] = frozenset({"borrow", "return", "read"})


@dataclass(frozen=True)
class CardLevel:
    """A card level by deposit (bj-joint): a bigger deposit allows more items at once."""

    name_zh: str
    name_en: str
    deposit_yuan: int
    max_items: int


@dataclass(frozen=True)
class Scheme:
    """A card scheme's identity, number format, loan rules and PIN policy (from schemes.toml).

    `max_items`, `loan_days`, `max_renewals` and `renew_days` are what `hub.rules.rules` applies;
    `levels` documents the deposit levels (the default level is `max_items`).
    """

    id: str
    name_zh: str
    name_en: str
    pattern: str
    length: int
    max_items: int
    loan_days: int
    max_renewals: int
    renew_days: int
    pin_required: bool
    pin_length: int
    pin_max_attempts: int = 5
    lockout_base_minutes: int = 15
    lockout_later_minutes: tuple[int, ...] = (60, 24 * 60)
    technician: bool = False
    launched: int | None = None
    issuing_quota: int | None = None  # cards a university may issue to the public per year
    levels: tuple[CardLevel, ...] = ()
    note_zh: str = ""
    note_en: str = ""

    def lockout_minutes(self, lockouts: int) -> int | None:
        """How long the `lockouts`-th lockout (1-based) of a card lasts: the scheme's own
        `lockout_base_minutes` first, then each of `lockout_later_minutes` in turn; after
        the last, None: the card stays locked until staff lift it (`python -m hub pin
        unlock`). A right PIN after a lockout ended starts the ladder again."""
        if lockouts <= 0:
            return 0
        ladder = (self.lockout_base_minutes, *self.lockout_later_minutes)
        return ladder[lockouts - 1] if lockouts <= len(ladder) else None
