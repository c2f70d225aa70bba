"""The answer path of a loan or renewal of a book a member's own system keeps: the hub's
rules for the reader and the library first, then that system's 11 or 29
(`IlsGateway.lend`, hub/ils/ils_operations.py); the title and due date are the system's,
else the ledger's title and the rules' date; a refusal is in the system's words too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from contract import messages, privacy
from hub.ils.ils_operations import IlsGateway, IlsRefusal, LendOp, ils_item_view
from hub.rules import rules
from hub.rules.registry import Registry
from hub.rules.rules import Decision, ItemRecord, ReaderRecord
from hub.worker.refusals import reason_message, refusal_fields


class IlsLending:
    """Loans and renewals at the members' own systems (`ils`), under the hub's rules of
    `registry`, on the hub's `clock`."""

    def __init__(self, ils: IlsGateway, registry: Registry, clock: Callable[[], datetime]) -> None:
        self.ils = ils
        self.registry = registry
        self.clock = clock

    def checkout(
        self,
        req: messages.CheckoutAuth,
        system: str,
        reader: ReaderRecord | None,
        item: ItemRecord | None,
        loans: int,
        on_loan: bool,
        kiosk_id: str | None = None,
    ) -> messages.Response:
        """A book of a member's own system: the hub's rules for the reader and the
        library (`on_loan`: the ledger has an open loan of it), then that system's
        checkout (`lend`)."""
        member = self.ils.item_member(req.item) or ""
        view = ils_item_view(item, req.item, member, on_loan)
        key = privacy.card_hash(req.card.scheme, req.card.number)
        decision = rules.checkout_decision(self.registry, reader, view, req.library_id, loans, self.clock(), key)
        title = item.title if item is not None else None
        if not decision.allowed:
            return messages.Response(title=title, home_library=member or None, **refusal_fields(decision))
        return self.lend("checkout", req, system, decision, title, member, kiosk_id)

    def lend(
        self,
        op: LendOp,
        req: messages.CheckoutAuth | messages.RenewAuth,
        system: str,
        decision: Decision,
        title: str | None,
        home_library: str | None,
        kiosk_id: str | None,
    ) -> messages.Response:
        """The one answer path of a checkout or renewal the hub's rules allowed (`decision`)
        of a member's system's book: that system's 11 or 29 (`IlsGateway.lend`); the
        title and due date are its own, else the ledger's title and the rules' date."""
        try:
            loan = self.ils.lend(op, req.card.scheme, req.card.number, req.item, req.library_id, system, kiosk_id)
        except IlsRefusal as refusal:
            return _ils_refusal(refusal, title, home_library)
        return messages.Response(
            allowed=True, title=loan.title or title, home_library=home_library or None, due=loan.due or decision.due
        )


def _ils_refusal(refusal: IlsRefusal, title: str | None, home_library: str | None) -> messages.Response:
    """A member's system refused (or did not answer): the reason, in its own words too,
    and the book's title (the ledger's, else the one the system named in its refusal)."""
    return messages.Response(
        allowed=False,
        reason_code=refusal.code,
        message=reason_message(refusal.code, refusal.note),
        title=title or refusal.title,
        home_library=home_library or None,
    )
