"""The errors of the SIP2 client, by what a caller should do about them.

- `Sip2Unavailable`: the system cannot be reached now (connect refused, timeout, TLS
  failure, login refused). Retry later; the store-and-forward queue keeps the call.
- `Sip2ProtocolError`: what came back (or did not) does not fit SIP2, or the peer closed
  the connection without answering a request, which SIP2 servers such as pysip2 do when
  they find the request invalid. Retrying the same call will not help; a person must look.
- `Sip2AnswerMismatch`: an answer that is not the answer to what we asked (another AY,
  another item or patron identifier): refused, never acted on; whether the ILS acted on
  our request is not known.
- `Sip2ChecksumError`: a frame whose AZ checksum does not match its bytes. The client
  handles it itself (it asks for a resend with 97); it only escapes from the codec.

Every message names the system (when known) and the SIP2 message, so a technician can
read the log line on its own.
"""

from __future__ import annotations


class Sip2Error(Exception):
    """Base of every error the SIP2 client raises."""


class Sip2Unavailable(Sip2Error):
    """The system is down for now: cannot connect, timed out, closed, or refused the login."""


class Sip2ProtocolError(Sip2Error):
    """Garbage on the wire, a reply that does not fit the request, or a request the peer
    refused by closing the connection without a reply."""


class Sip2ChecksumError(Sip2ProtocolError):
    """A frame's AZ checksum does not match the bytes it covers."""


class Sip2AnswerMismatch(Sip2ProtocolError):
    """An answer whose sequence number (AY), item (AB) or patron (AA) identifier is not
    the request's: out of step, or altered on the way. Its message names the field,
    never the value (a patron identifier is a card number)."""
