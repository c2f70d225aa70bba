"""SIP2 peers for the client's tests: a real pysip2 server in a background thread with a
small library behind it, and a raw-socket fake for what pysip2 will not do (a corrupted
checksum, silence)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketAttribute
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
    CheckinResponse,
    CheckoutResponse,
    EndSessionResponse,
    ItemInformationResponse,
    LoginResponse,
    PatronInformationResponse,
    PatronStatusResponse,
    RenewResponse,
    SIP2Server,
)

from hub.sip2.codec import checksum

USER, PASSWORD = "alliance", "s3cret"
DUE = "20270115    235959"


@dataclass
class Library:
    """What the ILS knows, and what it saw."""

    patrons: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, pin)
    titles: dict[str, str] = field(default_factory=dict)  # item -> title
    loans: dict[str, str] = field(default_factory=dict)  # item -> patron
    seen: list[tuple[str, dict]] = field(default_factory=list)


def build_app(library: Library, *, encoding: str, login_required: bool = True) -> SIP2Server:
    app = SIP2Server(institution_id="capital", library_name="首都图书馆", encoding=encoding,
                     login_required=login_required)

    @app.route(LOGIN)
    def login(req, ctx):
        library.seen.append(("93", {"user": req.login_user_id, "location": req.location_code}))
        return LoginResponse(ok="1" if (req.login_user_id, req.login_password) == (USER, PASSWORD) else "0")

    def patron_fields(req):
        name, pin = library.patrons.get(req.patron_identifier, ("", None))
        valid = "Y" if pin is not None else "N"
        cq = None if not req.patron_password else ("Y" if req.patron_password == pin else "N")
        return name, valid, cq

    @app.route(PATRON_STATUS)
    def patron_status(req, ctx):
        library.seen.append(("23", {"patron": req.patron_identifier}))
        name, valid, cq = patron_fields(req)
        return PatronStatusResponse(
            patron_status=" " * 14, language="000", transaction_date=ctx.now_18(),
            institution_id=req.institution_id, patron_identifier=req.patron_identifier,
            personal_name=name, valid_patron=valid, valid_patron_password=cq)

    @app.route(PATRON_INFORMATION)
    def patron_information(req, ctx):
        library.seen.append(("63", {"patron": req.patron_identifier, "pin": req.patron_password}))
        name, valid, cq = patron_fields(req)
        charged = tuple(i for i, p in library.loans.items() if p == req.patron_identifier)
        return PatronInformationResponse(
            patron_status=" " * 14, language="000", transaction_date=ctx.now_18(),
            hold_items_count="0000", overdue_items_count="0000",
            charged_items_count=f"{len(charged):04d}", fine_items_count="0000",
            recall_items_count="0000", unavailable_holds_count="0000",
            institution_id=req.institution_id, patron_identifier=req.patron_identifier,
            personal_name=name, valid_patron=valid, valid_patron_password=cq,
            charged_items=charged, screen_message=("欢迎",))

    @app.route(ITEM_INFORMATION)
    def item_information(req, ctx):
        library.seen.append(("17", {"item": req.item_identifier}))
        title = library.titles.get(req.item_identifier)
        if title is None:
            return ctx.decline("no such item")
        on_loan = req.item_identifier in library.loans
        return ItemInformationResponse(
            circulation_status="04" if on_loan else "03", security_marker="00",
            fee_type="01", transaction_date=ctx.now_18(), due_date=DUE if on_loan else None,
            item_identifier=req.item_identifier, title_identifier=title,
            permanent_location="东城区图书馆", current_location="书架")

    @app.route(CHECKOUT)
    def checkout(req, ctx):
        library.seen.append(("11", {"patron": req.patron_identifier, "item": req.item_identifier,
                                    "no_block": req.no_block, "nb_due_date": req.nb_due_date}))
        title = library.titles.get(req.item_identifier)
        if title is None or req.item_identifier in library.loans:
            return ctx.decline("不能借出")
        library.loans[req.item_identifier] = req.patron_identifier
        return CheckoutResponse(
            ok="1", renewal_ok="N", magnetic_media="N", desensitize="Y",
            transaction_date=ctx.now_18(), institution_id=req.institution_id,
            patron_identifier=req.patron_identifier, item_identifier=req.item_identifier,
            title_identifier=title, due_date=DUE)

    @app.route(CHECKIN)
    def checkin(req, ctx):
        library.seen.append(("09", {"item": req.item_identifier, "location": req.current_location,
                                    "return_date": req.return_date}))
        if library.loans.pop(req.item_identifier, None) is None:
            return ctx.decline("item not checked out")
        return CheckinResponse(
            ok="1", resensitize="Y", magnetic_media="N", alert="N",
            transaction_date=ctx.now_18(), institution_id=req.institution_id,
            item_identifier=req.item_identifier, permanent_location="东城区图书馆",
            title_identifier=library.titles.get(req.item_identifier))

    @app.route(RENEW)
    def renew(req, ctx):
        library.seen.append(("29", {"patron": req.patron_identifier, "item": req.item_identifier}))
        if library.loans.get(req.item_identifier or "") != req.patron_identifier:
            return ctx.decline("not your loan")
        return RenewResponse(
            ok="1", renewal_ok="Y", magnetic_media="N", desensitize="Y",
            transaction_date=ctx.now_18(), institution_id=req.institution_id,
            patron_identifier=req.patron_identifier, item_identifier=req.item_identifier or "",
            title_identifier=library.titles.get(req.item_identifier or "", ""),
            due_date="2027-02-15")

    @app.route(END_PATRON_SESSION)
    def end_session(req, ctx):
        library.seen.append(("35", {"patron": req.patron_identifier}))
        return EndSessionResponse(end_session="Y", transaction_date=ctx.now_18(),
                                  institution_id=req.institution_id,
                                  patron_identifier=req.patron_identifier)

    return app


class ServerThread:
    """A pysip2 app served on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, app: SIP2Server, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.port = port
        self.tls = tls
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="pysip2")

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError(f"pysip2 did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        # Not `app.start()`: it never closes its listener, so after it returns the port
        # still accepts connections that nobody answers (a stopped ILS would look hung).
        tcp = await self.app.listen("127.0.0.1", self.port)
        listener = tcp if self.tls is None else TLSListener(tcp, self.tls, standard_compatible=False)
        async with listener, anyio.create_task_group() as tg:
            self.port = tcp.extra(SocketAttribute.local_port)
            tg.start_soon(listener.serve, self.app._handle_connection)
            self._ready.set()
            while not self._stop.is_set():
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()


def frame(text: str, encoding: str = "utf-8") -> bytes:
    """A frame with a correct checksum after `text` (which ends in AY<n>AZ or AZ)."""
    data = text.encode(encoding)
    return data + checksum(data).encode() + b"\r"


class RawPeer:
    """A one-connection-at-a-time TCP peer that answers each frame it reads with what
    `answer(frame_bytes)` returns (bytes to send, b"" for silence, None to close)."""

    def __init__(self, answer: Callable[[bytes], bytes | None],
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-sip2")
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    continue
            with conn:
                buf = b""
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    buf += data
                    closing = False
                    while b"\r" in buf:
                        one, buf = buf.split(b"\r", 1)
                        self.received.append(one + b"\r")
                        reply = self.answer(one + b"\r")
                        if reply is None:
                            closing = True
                            break
                        if reply:
                            conn.sendall(reply)
                    if closing:
                        break

    def close(self) -> None:
        self._sock.close()


STATUS = "98YYYYNN030003" + "20261201    120000" + "2.00" + "AOcapital|AMeast|BXYYYYYYYYYYYYYYYY|"
"""An ACS status answer (98) a scripted peer can give."""


def seq_of(request: bytes) -> str:
    """The sequence number (AY) of a framed request."""
    return request[request.rindex(b"AY") + 2 : request.rindex(b"AY") + 3].decode()


def login_then(answer: Callable[[bytes], bytes | None]) -> Callable[[bytes], bytes | None]:
    """A scripted peer's answers: the login (93) accepted, everything else by `answer`."""

    def reply(request: bytes) -> bytes | None:
        if request.startswith(b"93"):
            return frame(f"941AY{seq_of(request)}AZ")
        return answer(request)

    return reply
