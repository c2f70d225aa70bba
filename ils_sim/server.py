"""The simulated ILS on the wire: pysip2's server with our handlers, in-process or not.

`build_server` registers one handler per message we answer (93, 99, 23, 63, 17, 11, 09,
29, 35); pysip2 derives the supported-messages bitmap (BX of the 98 answer) from exactly
these registrations, so BX says what we handle and nothing else. Every handler records
the request in the `Journal` before answering.

Served over TLS when given a context (`server_tls(cert, key)`; pysip2 itself has none),
else plain TCP. `IlsSimulator` runs one such server on a background thread for tests and
scenarios:

    with IlsSimulator(load_library(DONGCHENG), encoding="gb18030") as sim:
        ...  # connect to 127.0.0.1:sim.port
        assert sim.journal.count("09", item=barcode) == 1

What a caller may rely on (beyond `circulation.py`'s rules):
- Text fields are made to fit the instance's encoding: characters it cannot encode
  become "?", a "|" becomes "/", and values are cut to SIP2's 255 bytes, so a cp850
  instance with Chinese titles still answers instead of dropping the connection.
- Due dates (AH) are SIP2 dates, `YYYYMMDD    235959`.
- 63 returns the charged items (AU) whatever the summary field asks for.
- pysip2's own strictness stays: a request it finds invalid (blank nb_due_date in 11,
  23 without AC/AD, ...) closes the connection without an answer and is not journaled.
"""

from __future__ import annotations

import codecs
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio import aclose_forcefully
from anyio.abc import SocketAttribute
from anyio.from_thread import start_blocking_portal
from anyio.streams.tls import TLSListener
from pysip2 import (
    CHECKIN,
    CHECKOUT,
    END_PATRON_SESSION,
    ITEM_INFORMATION,
    LOGIN,
    PATRON_INFORMATION,
    PATRON_STATUS,
    RENEW,
    SC_STATUS,
    CheckinRequest,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewRequest,
    RenewResponse,
    SCStatusRequest,
    SIP2Server,
)

from ils_sim.answer_loss import AnswerLoss
from ils_sim.circulation import Circulation, Outcome
from ils_sim.journal import Journal, Request
from ils_sim.library import Library, Patron
from ils_sim.wire import RoutedCheckinResponse

SUPPORTED_ENCODINGS = ("utf-8", "gb18030", "cp850")

# SIP2 circulation status (18's first fixed field) of each item status.
CIRCULATION_STATUS = {
    "available": "03",
    "charged": "04",
    "on_hold_shelf": "08",
    "in_transit": "10",
    "missing": "13",
}

_LOG = logging.getLogger("ils_sim")


def sip_date(day: date | None) -> str:
    """A SIP2 18-character date at the end of `day` ("" for None)."""
    return day.strftime("%Y%m%d") + "    235959" if day else ""


def build_server(
    circulation: Circulation,
    journal: Journal,
    *,
    encoding: str = "utf-8",
    login_required: bool | None = None,
) -> SIP2Server:
    """pysip2's server answering for `circulation`, recording into `journal`.

    `login_required` defaults to whether the library has a login account; when required,
    pysip2 closes a connection whose first message is not a successful 93.
    """
    codecs.lookup(encoding)  # LookupError now rather than on the first answer
    library = circulation.library
    if login_required is None:
        login_required = library.login_user is not None
    app = SIP2Server(
        institution_id=library.institution,
        library_name=_fit(library.library_name, encoding) or None,
        encoding=encoding,
        login_required=login_required,
    )

    def text(value: str) -> str:
        return _fit(value, encoding)

    def note(command: str, **fields: Any) -> None:
        now = datetime.now().isoformat(timespec="milliseconds")
        journal.record(Request(command=command, time=now, **fields))

    @app.route(LOGIN)
    async def login(req: LoginRequest, ctx: Any) -> LoginResponse:
        ok = library.login_user is None or (
            req.login_user_id == library.login_user and req.login_password == library.login_password
        )
        note("93", location=req.location_code, ok="1" if ok else "0")
        return LoginResponse(ok="1" if ok else "0")

    @app.route(SC_STATUS)
    async def sc_status(req: SCStatusRequest, ctx: Any) -> Any:
        note("99")
        return ctx.server.build_acs_status(req)

    @app.route(PATRON_STATUS)
    async def patron_status(req: PatronStatusRequest, ctx: Any) -> PatronStatusResponse:
        patron = circulation.patron(req.patron_identifier)
        pin_ok = patron is not None and circulation.pin_ok(patron, req.patron_password)
        note("23", patron=req.patron_identifier, institution=req.institution_id)
        return PatronStatusResponse(
            patron_status=_patron_status(patron),
            language=req.language,
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            personal_name=text(patron.name) if patron else "",
            valid_patron="Y" if patron else "N",
            valid_patron_password="Y" if pin_ok else "N",
            screen_message=_patron_messages(patron, text),
        )

    @app.route(PATRON_INFORMATION)
    async def patron_information(
        req: PatronInformationRequest, ctx: Any
    ) -> PatronInformationResponse:
        patron = circulation.patron(req.patron_identifier)
        charged = circulation.charged_items(req.patron_identifier) if patron else []
        fields: dict[str, Any] = {}
        if req.patron_password is not None:
            pin_ok = patron is not None and circulation.pin_ok(patron, req.patron_password)
            fields["valid_patron_password"] = "Y" if pin_ok else "N"
        note("63", patron=req.patron_identifier, institution=req.institution_id)
        return PatronInformationResponse(
            patron_status=_patron_status(patron),
            language=req.language,
            transaction_date=ctx.now_18(),
            hold_items_count="0000",
            overdue_items_count="0000",
            charged_items_count=f"{len(charged):04d}",
            fine_items_count="0000",
            recall_items_count="0000",
            unavailable_holds_count="0000",
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            personal_name=text(patron.name) if patron else "",
            valid_patron="Y" if patron else "N",
            charged_items=tuple(charged),
            screen_message=_patron_messages(patron, text),
            **fields,
        )

    @app.route(ITEM_INFORMATION)
    async def item_information(req: ItemInformationRequest, ctx: Any) -> ItemInformationResponse:
        item = circulation.item(req.item_identifier)
        note("17", item=req.item_identifier, institution=req.institution_id)
        if item is None:
            return ItemInformationResponse(
                circulation_status="01",
                security_marker="00",
                fee_type="01",
                transaction_date=ctx.now_18(),
                item_identifier=req.item_identifier,
                title_identifier="",
                screen_message=("unknown item",),
            )
        return ItemInformationResponse(
            circulation_status=CIRCULATION_STATUS[item.status],
            security_marker="02",
            fee_type="01",
            transaction_date=ctx.now_18(),
            hold_queue_length=str(len(item.holds)),
            due_date=sip_date(item.due) or None,
            item_identifier=item.barcode,
            title_identifier=text(item.title),
            permanent_location=text(item.location),
            current_location=text(item.location),
        )

    @app.route(CHECKOUT)
    async def checkout(req: CheckoutRequest, ctx: Any) -> CheckoutResponse:
        outcome = circulation.checkout(
            req.patron_identifier,
            req.item_identifier,
            pin=req.patron_password,
            no_block=req.no_block == "Y",
        )
        note("11", patron=req.patron_identifier, item=req.item_identifier,
             institution=req.institution_id, **_result(outcome))  # fmt: skip
        return CheckoutResponse(
            ok="1" if outcome.ok else "0",
            renewal_ok="Y" if outcome.renewal else "N",
            magnetic_media="N",
            desensitize="Y" if outcome.ok else "N",
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier,
            title_identifier=text(outcome.title),
            due_date=sip_date(outcome.due) if outcome.ok else "",
            screen_message=(text(outcome.message),),
        )

    @app.route(CHECKIN)
    async def checkin(req: CheckinRequest, ctx: Any) -> RoutedCheckinResponse:
        outcome = circulation.checkin(req.item_identifier, location=req.current_location)
        note("09", patron=outcome.patron, item=req.item_identifier,
             institution=req.institution_id, location=req.current_location,
             **_result(outcome))  # fmt: skip
        return RoutedCheckinResponse(
            ok="1" if outcome.ok else "0",
            resensitize="Y" if outcome.ok else "N",
            magnetic_media="N",
            alert="Y" if outcome.alert_type else "N",
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            item_identifier=req.item_identifier,
            permanent_location=text(outcome.location),
            title_identifier=text(outcome.title) or None,
            patron_identifier=outcome.patron if outcome.ok else None,
            destination_location=outcome.destination,
            alert_type=outcome.alert_type,
            screen_message=(text(outcome.message),),
        )

    @app.route(RENEW)
    async def renew(req: RenewRequest, ctx: Any) -> RenewResponse:
        barcode = req.item_identifier or ""
        outcome = circulation.renew(req.patron_identifier, barcode, pin=req.patron_password)
        note("29", patron=req.patron_identifier, item=barcode,
             institution=req.institution_id, **_result(outcome))  # fmt: skip
        return RenewResponse(
            ok="1" if outcome.ok else "0",
            renewal_ok="Y" if outcome.ok else "N",
            magnetic_media="N",
            desensitize="Y" if outcome.ok else "N",
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
            item_identifier=barcode,
            title_identifier=text(outcome.title),
            due_date=sip_date(outcome.due) if outcome.ok else "",
            screen_message=(text(outcome.message),),
        )

    @app.route(END_PATRON_SESSION)
    async def end_session(req: EndPatronSessionRequest, ctx: Any) -> EndSessionResponse:
        note("35", patron=req.patron_identifier, institution=req.institution_id)
        return EndSessionResponse(
            end_session="Y",
            transaction_date=ctx.now_18(),
            institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
        )

    return app


class _TlsListener(TLSListener):
    """anyio's TLS listener with a one-line log for a failed handshake (a client that
    does not trust our certificate, or a port scanner) instead of a traceback."""

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: Any) -> None:
        await aclose_forcefully(stream)
        if isinstance(exc, Exception) and not isinstance(exc, anyio.get_cancelled_exc_class()):
            _LOG.warning("TLS handshake failed: %s", exc)
            return
        raise exc


def server_tls(cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """The server's TLS context from its certificate and key files (TLS 1.2 at least)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


@asynccontextmanager
async def serving(
    app: SIP2Server, host: str, port: int, tls: ssl.SSLContext | None = None, loss: AnswerLoss | None = None
) -> AsyncIterator[int]:
    """Serve `app` inside the block, over TLS with `tls`; yields the bound port. With
    `loss`, armed answers are dropped with their connection (ils_sim/answer_loss.py).

    Like pysip2's `SIP2Server.start`, except that it closes the listening socket on exit:
    pysip2 0.1.0 leaves it open until garbage collection, so a simulator stopped and
    started again in the same process could not bind its port. Uses pysip2's
    per-connection handler, `_handle_connection`, the one private name we rely on
    (pysip2 has no TLS of its own: anyio's TLS listener wraps each connection first).
    """
    tcp = await app.listen(host, port)
    listener: Any = tcp if tls is None else _TlsListener(tcp, tls, standard_compatible=False, handshake_timeout=10)

    async def handle(stream: Any) -> None:
        await app._handle_connection(loss.wrap(stream) if loss is not None else stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield tcp.extra(SocketAttribute.local_port)
        finally:
            tg.cancel_scope.cancel()


class IlsSimulator:
    """A simulated ILS served from a background thread; a context manager.

    `circulation` and `journal` are the live objects the server uses: tests read counts
    and loans from them while the server runs. `stop()` is idempotent; `start()` after
    `stop()` serves again on the same port with the same loans and journal (an ILS
    outage in a scenario).
    """

    def __init__(
        self,
        library: Library,
        *,
        encoding: str = "utf-8",
        journal: Journal | None = None,
        state_file: Path | str | None = None,
        login_required: bool | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] = datetime.now,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.circulation = Circulation(library, state_file=state_file, clock=clock)
        self.journal = journal if journal is not None else Journal()
        self.server = build_server(
            self.circulation, self.journal, encoding=encoding, login_required=login_required
        )
        self.host = host
        self.tls = tls  # None: plain TCP
        self.answer_loss = AnswerLoss()
        self._wanted_port = port
        self.port: int | None = None
        self._portal_cm: Any = None
        self._server_cm: Any = None

    def start(self) -> int:
        """Open the port and serve; returns the bound port."""
        if self.port is not None:
            return self.port
        self._portal_cm = start_blocking_portal()
        portal = self._portal_cm.__enter__()
        try:
            server_cm = portal.wrap_async_context_manager(
                serving(self.server, self.host, self._wanted_port, self.tls, self.answer_loss)
            )
            self.port = server_cm.__enter__()
            self._server_cm = server_cm
            self._wanted_port = self.port  # a restart comes back on the same port
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
            raise
        _LOG.info("ils_sim listening on %s:%s", self.host, self.port)
        return self.port

    def lose_answers(self, request_code: str, times: int = 1) -> None:
        """Act on the next `times` requests `request_code` (e.g. "11"), then drop the
        connection instead of answering: an answer lost on the wire."""
        self.answer_loss.arm(request_code, times)

    def stop(self) -> None:
        """Close the port and every open connection."""
        if self._server_cm is not None:
            self._server_cm.__exit__(None, None, None)
            self._server_cm = None
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
        self.port = None

    def __enter__(self) -> IlsSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _fit(value: str, encoding: str, limit: int = 255) -> str:
    """`value` as this encoding can carry it in one SIP2 field (see the module docstring)."""
    value = value.replace("|", "/").replace("\r", " ")
    value = value.encode(encoding, errors="replace").decode(encoding)
    while len(value.encode(encoding)) > limit:
        value = value[:-1]
    return value


def _patron_status(patron: Patron | None) -> str:
    """The 14-character patron status: a block denies charge, renew, recall and hold."""
    if patron is not None and patron.blocked:
        return "YYYY" + " " * 10
    return " " * 14


def _patron_messages(patron: Patron | None, text: Callable[[str], str]) -> tuple[str, ...]:
    if patron is None:
        return ("unknown patron",)
    if patron.blocked:
        reason = f"patron blocked: {patron.block_reason}" if patron.block_reason else ""
        return (text(reason or "patron blocked"),)
    return ()


def _result(outcome: Outcome) -> dict[str, str]:
    return {"ok": "1" if outcome.ok else "0", "message": outcome.message}
