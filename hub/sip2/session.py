"""`Sip2Client`: one logged-in connection to one ACS, and the one rule for resends.

What a caller may rely on:
- Every call sends one request with AY (0-9, cycling) and AZ, and returns the parsed
  answer, or raises `Sip2Unavailable` (cannot connect, login refused, no answer within
  `timeout_s`) or `Sip2ProtocolError` (the answer does not fit, or the ACS refused the
  request by closing the connection). After either error the connection is closed; the
  next call connects again. After a timeout the outcome of the request is unknown.
- An answer is taken only if it is the answer to the request: the expected message, the
  request's sequence number (AY, always present, its checksum AZ verified), and the same
  patron (AA) and item (AB) identifiers the request named. Anything else is
  `Sip2AnswerMismatch` (the connection is closed; the log names the field, never the
  patron number), so an answer altered on the way or out of step is a refusal.
- Resends, one rule, bounded (`MAX_RESENDS` each way): a reply whose checksum is wrong
  -> we send 97 and read again; a 96 from the ACS -> we send our last frame again,
  byte for byte (same AY, same AZ, so an ACS that did act on it replays its answer).
- A silent close after a request on a connection that had been idle (the ACS may have
  restarted) -> one new connection and one resend; a silent close on a fresh connection
  is the ACS refusing the request (pysip2 does this with requests it finds invalid) and
  raises `Sip2ProtocolError` naming the message, never a retry loop. The first send may
  have been acted on (its answer lost with the connection): `sent_twice` says so for
  the last call, so a caller can read a "not checked out" or "already out" answer to the
  resend as the echo of its own first send. `request_sent` says whether the last call's
  request began to leave at all: False when it failed connecting or logging in, so a
  caller that recorded the call before sending it knows the system never saw it.
  `before_request(hook)` runs `hook` once, just before the block's first request (not a
  login) begins to leave, so a caller can count a send exactly when it is one (the
  drainer's `attempts`, hub/ils/ils_drainer.py); if `hook` raises, nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from hub.sip2 import messages as m
from hub.sip2.codec import Frame, decode_frame, encode_frame
from hub.sip2.errors import (
    Sip2AnswerMismatch,
    Sip2ChecksumError,
    Sip2ProtocolError,
    Sip2Unavailable,
)
from hub.sip2.system import Sip2System
from hub.sip2.transport import Connection, PeerClosed, ReadTimeout

log = logging.getLogger(__name__)

MAX_RESENDS = 3
# Identifiers an answer must carry back exactly as the request named them.
_ECHOED = {"AA": "patron identifier", "AB": "item identifier"}


class _Request(Protocol):
    def to_frame(self) -> m.FrameParts: ...


class Sip2Client:
    """One logged-in connection to one system; not thread-safe (the pool hands it out)."""

    def __init__(
        self, system: Sip2System, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.system = system
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn: Connection | None = None
        self._seq = -1
        self.sent_twice = False  # the last call's request went out again after a silent close
        self.request_sent = False  # the last call's request began to leave (not only the login)
        self._answered = False  # the connection has answered a request since its login
        self._before_send: Callable[[], None] | None = None  # `before_request`'s hook, until it runs

    # ---- connection ----

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def connect(self) -> None:
        """TCP (or TLS) and login 93; Sip2Unavailable when either fails."""
        self.close()
        s = self.system
        if not s.tls and not s.allow_plain:  # Sip2System refuses this too; never send CO in clear
            raise Sip2Unavailable(f"{s.label}: plain TCP refused (tls off without allow_plain)")
        self._conn = Connection.open(s.host, s.port, timeout_s=s.timeout_s, tls=s.tls,
                                     tls_ca=s.tls_ca, tls_fingerprint=s.tls_fingerprint,
                                     label=s.label)
        self._seq = -1
        self._answered = False
        login = m.LoginRequest(s.user, s.password, s.location)
        try:
            ok = m.read_login(self._exchange(login))
        except PeerClosed:
            self.close()
            raise Sip2Unavailable(
                f"{s.label}: closed the connection at login (user {s.user!r}); check the "
                "SIP2 user, password and location") from None
        except Sip2ProtocolError as exc:
            self.close()
            raise Sip2Unavailable(f"{s.label}: login failed: {exc}") from None
        if not ok:
            self.close()
            raise Sip2Unavailable(
                f"{s.label}: login refused for user {s.user!r} at location {s.location!r}; "
                "check the SIP2 user and password file")
        log.info("sip2 %s: logged in as %s", s.label, s.user)

    def link_description(self) -> str:
        """How the current connection is protected (TLS version and the server
        certificate's SHA-256, or plain TCP); "not connected" before `connect()`."""
        return self._conn.tls_description() if self._conn is not None else "not connected"

    @contextmanager
    def before_request(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run `hook` once, just before the block's first request (not a login) begins to
        leave: never when connecting fails, once however often our client resends it.
        If `hook` raises, the request is not sent and the error escapes the call."""
        self._before_send = hook
        try:
            yield
        finally:
            self._before_send = None

    def close(self) -> None:
        """Close the connection (idempotent); the next call connects again."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Sip2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the messages ----

    def sc_status(self) -> m.ScStatus:
        """99 -> 98: what the ACS allows; also the keep-alive."""
        return m.read_sc_status(self._call(m.ScStatusRequest()))

    def patron_status(self, patron_id: str, pin: str | None = None) -> m.PatronInfo:
        """23 -> 24 (AC and AD always sent)."""
        s = self.system
        return m.read_patron(self._call(m.PatronStatusRequest(
            s.institution, patron_id, pin, self._clock(), s.local_tz, s.terminal_password)))

    def patron_information(self, patron_id: str, pin: str | None = None) -> m.PatronInfo:
        """63 -> 64, AD when `pin`; `valid_pin` is the ACS's CQ."""
        s = self.system
        return m.read_patron(self._call(m.PatronInformationRequest(
            s.institution, patron_id, pin, self._clock(), s.local_tz, s.terminal_password)))

    def item_information(self, item_id: str) -> m.ItemInfo:
        """17 -> 18."""
        s = self.system
        return m.read_item(self._call(m.ItemInformationRequest(
            s.institution, item_id, self._clock(), s.local_tz, s.terminal_password)), s.local_tz)

    def checkout(
        self,
        patron_id: str,
        item_id: str,
        *,
        pin: str | None = None,
        at: datetime | None = None,
        no_block: bool = False,
        nb_due_date: datetime | None = None,
    ) -> m.LoanResult:
        """11 -> 12. `at`: when the loan happened (default now); `no_block` with
        `nb_due_date` replays a loan made offline with the due date the reader was shown."""
        s = self.system
        return m.read_checkout(self._call(m.CheckoutRequest(
            s.institution, patron_id, item_id, at or self._clock(), s.local_tz, pin=pin,
            no_block=no_block, nb_due_date=nb_due_date,
            terminal_password=s.terminal_password)), s.local_tz)

    def checkin(
        self, item_id: str, *, at: datetime, current_location: str, no_block: bool = False
    ) -> m.CheckinResult:
        """09 -> 10. `at` is when the book came back (the return date); `current_location`
        (AP) the library it came back at."""
        s = self.system
        return m.read_checkin(self._call(m.CheckinRequest(
            s.institution, item_id, at, self._clock(), current_location, s.local_tz,
            no_block=no_block, terminal_password=s.terminal_password)))

    def renew(
        self, patron_id: str, item_id: str, *, pin: str | None = None, at: datetime | None = None
    ) -> m.LoanResult:
        """29 -> 30."""
        s = self.system
        return m.read_renew(self._call(m.RenewRequest(
            s.institution, patron_id, item_id, at or self._clock(), s.local_tz, pin=pin,
            terminal_password=s.terminal_password)), s.local_tz)

    def end_session(self, patron_id: str) -> bool:
        """35 -> 36: True when the ACS ended the session."""
        s = self.system
        return m.read_end_session(self._call(m.EndSessionRequest(
            s.institution, patron_id, self._clock(), s.local_tz, s.terminal_password)))

    # ---- one request, one answer ----

    def _call(self, request: _Request) -> Frame:
        self.sent_twice = False
        self.request_sent = False
        # Idle, not fresh: it answered before, so a silent close now may be a restart.
        # (The pool logs a connection in before handing it out: that alone is fresh.)
        reused = self.connected and self._answered
        if self.connected and self._conn is not None and self._conn.has_input_waiting():
            log.info("sip2 %s: idle connection closed or out of step; reconnecting",
                     self.system.label)
            reused = False
            self.close()
        if not self.connected:
            self.connect()
        try:
            frame = self._exchange(request)
            self._answered = True
            return frame
        except PeerClosed:
            self.close()
            if not reused:
                raise self._refused(request) from None
        log.info("sip2 %s: idle connection was closed; reconnecting once", self.system.label)
        self.connect()
        self.sent_twice = True
        try:
            frame = self._exchange(request)
            self._answered = True
            return frame
        except PeerClosed:
            self.close()
            raise self._refused(request) from None

    def _refused(self, request: _Request) -> Sip2ProtocolError:
        mid = request.to_frame()[0]
        return Sip2ProtocolError(
            f"{self.system.label}: closed the connection without answering {mid} "
            f"({m.MESSAGE_NAMES.get(mid, mid)}): the ILS refused the request as invalid")

    def _exchange(self, request: _Request) -> Frame:
        """Send `request`, return its answer; resends as the module docstring says.
        PeerClosed escapes to `_call`; every other failure closes the connection."""
        conn = self._conn
        assert conn is not None
        s = self.system
        mid, fixed, fields = request.to_frame()
        name = f"{mid} ({m.MESSAGE_NAMES.get(mid, mid)})"
        self._seq = (self._seq + 1) % 10
        seq = self._seq
        data = encode_frame(mid, fixed, fields, encoding=s.encoding, sequence=seq)
        resends = rereads = 0
        if mid != "93":  # a login is the connection's, not the caller's request
            hook, self._before_send = self._before_send, None
            if hook is not None:
                hook()
            self.request_sent = True
        try:
            conn.send(data, s.timeout_s)
            while True:
                raw = conn.read_frame(s.timeout_s)
                try:
                    frame = decode_frame(raw, encoding=s.encoding, require_trailer=True)
                except Sip2ChecksumError as exc:
                    rereads += 1
                    if rereads > MAX_RESENDS:
                        raise Sip2ProtocolError(
                            f"{s.label}: answer to {name} still corrupt after {MAX_RESENDS} "
                            f"resend requests (97): {exc}") from None
                    log.warning("sip2 %s: corrupt answer to %s, asking for a resend (97)",
                                s.label, name)
                    conn.send(encode_frame("97", "", [], encoding=s.encoding, sequence=None),
                              s.timeout_s)
                    continue
                if frame.message_id == "96":
                    resends += 1
                    if resends > MAX_RESENDS:
                        raise Sip2ProtocolError(
                            f"{s.label}: the ILS asked for {name} again {resends} times (96); "
                            "it cannot read our frames (check the encoding)")
                    log.warning("sip2 %s: the ILS asked for a resend (96) of %s", s.label, name)
                    conn.send(data, s.timeout_s)
                    continue
                expected = m.ANSWER_TO[mid]
                if frame.message_id != expected:
                    raise Sip2ProtocolError(
                        f"{s.label}: answered {name} with {frame.message_id}, not {expected}")
                if frame.sequence != seq:
                    got = "no AY" if frame.sequence is None else f"AY{frame.sequence}"
                    raise Sip2AnswerMismatch(
                        f"{s.label}: answer to {name} carries {got}, not AY{seq}: refused")
                for field_id, value in fields:
                    if field_id in _ECHOED and value is not None and frame.get(field_id) != value:
                        raise Sip2AnswerMismatch(
                            f"{s.label}: answer to {name} names another {_ECHOED[field_id]} "
                            f"({field_id}) than the request: refused")
                return frame
        except ReadTimeout:
            self.close()
            raise Sip2Unavailable(
                f"{s.label}: no answer to {name} within {s.timeout_s:g} s") from None
        except Sip2ProtocolError as exc:
            self.close()
            if str(exc).startswith(s.label):
                raise
            raise Sip2ProtocolError(f"{s.label}: answer to {name}: {exc}") from None
