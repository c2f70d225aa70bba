"""How many books a kiosk may lend per card while offline, by the hub's own records.

A book van (`[hub] van_kiosks`, patterns of kiosk ids such as "van-*") is offline for
hours on its rounds, so it gets `van_offline_max_items`; every other kiosk gets
`offline_max_items`. The hub decides this from its own settings and the kiosk id the
broker authenticated (the kiosk's certificate and topic), never from what the kiosk says
it is: a kiosk configured as a van that the hub does not list is a kiosk. The same
figure goes to the kiosk with the blocklist and judges the offline loans it sends
(`hub.ledger.txn_plausibility`), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class OfflineLimits:
    """Offline loans per card: `default` for kiosks, `van` for those `van_kiosks` match."""

    default: int = 3
    van: int = 3
    van_kiosks: tuple[str, ...] = ()

    def is_van(self, kiosk_id: str | None) -> bool:
        """Whether the hub's settings list `kiosk_id` as a book van (None: no kiosk)."""
        return kiosk_id is not None and any(fnmatchcase(kiosk_id, p) for p in self.van_kiosks)

    def max_items(self, kiosk_id: str | None) -> int:
        """The offline loans per card the hub allows at `kiosk_id`."""
        return self.van if self.is_van(kiosk_id) else self.default
