"""Which e-card tokens were spent (issue 19 item 4): a token logs a reader in once.

Kept in the ledger, not in a worker's memory, so a token replayed at another worker or
after a hub restart is still refused. A row is kept until well after its token expired
(`KEEP`): an expired token is refused for its expiry anyway, so older rows are pruned
as new ones are written.

What a caller may rely on: `spend` is atomic across workers (one INSERT that does
nothing on a conflict): of two workers spending one token at once, exactly one gets True.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.ledger.ledger_sql import Database, time_text

KEEP = timedelta(hours=1)


def spend(db: Database, token_id: str, kiosk_id: str, now: datetime) -> bool:
    """Record `token_id` as spent at `kiosk_id` inside the caller's write transaction;
    False when it was spent before."""
    db.execute("DELETE FROM ecard_uses WHERE used_at < ?", (time_text(now - KEEP),))
    added = db.execute(
        "INSERT INTO ecard_uses (token_id, kiosk_id, used_at) VALUES (?, ?, ?) ON CONFLICT (token_id) DO NOTHING",
        (token_id, kiosk_id, time_text(now)),
    )
    return added == 1
