"""SIP2 frames: bytes on the wire to `Frame` and back. No I/O.

A frame is `CC` (two-digit message id), the message's fixed-length fields, then
variable fields `XXvalue|`, then the error-detection trailer `AY<digit>AZ<4 hex>`, then
CR. The checksum is the two's complement of the 16-bit sum of the frame's BYTES (in the
system's encoding) from the first byte through `AZ`, written as four upper-case hex
digits, zero-padded. 96 and 97 carry only `AZ<4 hex>`.

Decoding order matters: verify the checksum over the raw bytes, then decode the WHOLE
frame in the system's encoding, and only then split on `|`. GB18030 puts the byte 0x7C
(`|`) inside characters (億 is 0x83 0x7C), so splitting bytes first cuts such a title in
two.

What a caller may rely on: `decode_frame` and `FrameBuffer` raise `Sip2ProtocolError`
(or its `Sip2ChecksumError`) for every malformed input and nothing else; `encode_frame`
raises `Sip2ProtocolError` for a value that cannot be sent (contains `|` or CR, or is not
writable in the encoding) before anything reaches the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hub.sip2.errors import Sip2ChecksumError, Sip2ProtocolError

ENCODINGS = ("utf-8", "gb18030", "cp850")
MAX_FRAME_BYTES = 64 * 1024  # far above any real frame; bounds what junk can make us hold

# Width of the fixed-length part after the two-digit id, for every message we send or
# read. Without it a decoder cannot tell where the fixed part ends.
FIXED_WIDTHS: dict[str, int] = {
    # requests (SC -> ACS)
    "93": 2,  # UID algorithm, PWD algorithm
    "99": 8,  # status code, max print width, protocol version
    "23": 21,  # language, transaction date
    "63": 31,  # language, transaction date, summary
    "17": 18,  # transaction date
    "11": 38,  # SC renewal policy, no block, transaction date, nb due date
    "09": 37,  # no block, transaction date, return date
    "29": 38,  # third party allowed, no block, transaction date, nb due date
    "35": 18,  # transaction date
    "97": 0,
    # responses (ACS -> SC)
    "94": 1,  # ok
    "98": 34,  # six flags, timeout, retries, date/time sync, protocol version
    "24": 35,  # patron status, language, transaction date
    "64": 59,  # patron status, language, transaction date, six counts
    "18": 24,  # circulation status, security marker, fee type, transaction date
    "12": 22,  # ok, renewal ok, magnetic media, desensitize, transaction date
    "10": 22,  # ok, resensitize, magnetic media, alert, transaction date
    "30": 22,  # ok, renewal ok, magnetic media, desensitize, transaction date
    "36": 19,  # end session, transaction date
    "96": 0,
}
CONTROL_IDS = ("96", "97")  # resend requests: AZ only, no AY

_TRAILER = re.compile(rb"(?:AY([0-9]))?AZ([0-9A-Fa-f]{4})\Z")
_FIELD_ID = re.compile(r"[A-Za-z][A-Za-z0-9]")


@dataclass(frozen=True)
class Frame:
    """One SIP2 message as text: id, fixed part, variable fields in wire order."""

    message_id: str
    fixed: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    sequence: int | None = None  # AY; None for 96/97 or a peer without error detection
    checksum: str | None = None  # AZ as received; None when absent

    def get(self, field_id: str) -> str | None:
        """The first value of `field_id`, or None when absent."""
        for fid, value in self.fields:
            if fid == field_id:
                return value
        return None

    def get_all(self, field_id: str) -> tuple[str, ...]:
        """Every value of a repeatable field (AF, AU, ...), in order."""
        return tuple(value for fid, value in self.fields if fid == field_id)


def checksum(data: bytes) -> str:
    """The AZ value for `data` (every byte from the first through `AZ`)."""
    return f"{(-sum(data)) & 0xFFFF:04X}"


def encode_frame(
    message_id: str,
    fixed: str,
    fields: Sequence[tuple[str, str | None]],
    *,
    encoding: str,
    sequence: int | None,
) -> bytes:
    """The bytes of one frame, CR included. Fields whose value is None are left out;
    an empty string is sent as an empty field (`AC|`), which SIP2 often requires."""
    if message_id not in FIXED_WIDTHS:
        raise Sip2ProtocolError(f"SIP2 message {message_id!r} is not one we know")
    if len(fixed) != FIXED_WIDTHS[message_id] or not fixed.isascii():
        raise Sip2ProtocolError(
            f"message {message_id}: fixed part must be {FIXED_WIDTHS[message_id]} ASCII "
            f"characters, got {fixed!r}"
        )
    text = [message_id, fixed]
    for field_id, value in fields:
        if value is None:
            continue
        if not _FIELD_ID.fullmatch(field_id):
            raise Sip2ProtocolError(f"message {message_id}: bad field id {field_id!r}")
        if any(c in value for c in "|\r\n\0"):
            raise Sip2ProtocolError(
                f"message {message_id}: field {field_id} contains '|', CR, LF or NUL: {value!r}"
            )
        text.append(f"{field_id}{value}|")
    if message_id in CONTROL_IDS:
        text.append("AZ")
    else:
        if sequence is None or not 0 <= sequence <= 9:
            raise Sip2ProtocolError(f"message {message_id}: sequence must be 0-9, got {sequence}")
        text.append(f"AY{sequence}AZ")
    body = "".join(text)
    try:
        data = body.encode(encoding)
    except UnicodeEncodeError as exc:
        raise Sip2ProtocolError(
            f"message {message_id}: {body[exc.start : exc.end]!r} cannot be written in {encoding}"
        ) from None
    except LookupError:
        raise Sip2ProtocolError(f"unknown encoding {encoding!r}") from None
    return data + checksum(data).encode("ascii") + b"\r"


def decode_frame(raw: bytes, *, encoding: str, require_trailer: bool = False) -> Frame:
    """One frame from its bytes (with or without the final CR, LF tolerated).

    A trailer whose checksum does not match raises Sip2ChecksumError, and so does a frame
    without a trailer when `require_trailer` (an ACS answers with error detection when we
    ask with it, so a missing trailer is a damaged one: the client always requires it)."""
    raw = raw.rstrip(b"\n").removesuffix(b"\r").lstrip(b"\n")
    if b"\r" in raw or b"\0" in raw:
        raise Sip2ProtocolError(f"frame contains CR or NUL inside: {_show(raw)}")
    sequence: int | None = None
    received: str | None = None
    m = _TRAILER.search(raw)
    if m is not None:
        covered = raw[: m.end() - 4]
        received = m.group(2).decode("ascii")
        if int(received, 16) != int(checksum(covered), 16):
            raise Sip2ChecksumError(
                f"checksum AZ{received} does not match the frame (expected "
                f"{checksum(covered)}): {_show(raw)}"
            )
        sequence = int(m.group(1)) if m.group(1) is not None else None
        raw = raw[: m.start()]
    elif require_trailer:
        raise Sip2ChecksumError(f"frame has no AZ checksum: {_show(raw)}")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Sip2ProtocolError(
            f"frame is not valid {encoding} (byte {exc.start}): {_show(raw)}"
        ) from None
    except LookupError:
        raise Sip2ProtocolError(f"unknown encoding {encoding!r}") from None
    message_id = text[:2]
    width = FIXED_WIDTHS.get(message_id)
    if width is None:
        raise Sip2ProtocolError(f"unknown SIP2 message id {message_id!r}: {_show(raw)}")
    fixed = text[2 : 2 + width]
    if len(fixed) != width:
        raise Sip2ProtocolError(
            f"message {message_id}: fixed part cut short ({len(fixed)} of {width} characters)"
        )
    return Frame(message_id, fixed, tuple(_split_fields(message_id, text[2 + width :])),
                 sequence, received)


def _split_fields(message_id: str, rest: str) -> Iterator[tuple[str, str]]:
    if not rest:
        return
    parts = rest.split("|")
    if parts[-1] == "":
        parts.pop()  # the usual final `|`; some ACSs leave it out before the trailer
    for part in parts:
        if len(part) < 2 or not _FIELD_ID.fullmatch(part[:2]):
            raise Sip2ProtocolError(f"message {message_id}: bad variable field {part[:20]!r}")
        yield part[:2], part[2:]


def _show(raw: bytes) -> str:
    return repr(raw[:80]) + ("..." if len(raw) > 80 else "")


class FrameBuffer:
    """Bytes from the socket in, whole frames (bytes, CR included) out.

    An LF after the CR (some ACSs send CR LF) is dropped; a stream that grows beyond
    MAX_FRAME_BYTES without a CR is junk and raises Sip2ProtocolError."""

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_bytes

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None until more bytes arrive."""
        while self._buf[:1] == b"\n":
            del self._buf[:1]
        cr = self._buf.find(b"\r")
        if cr == -1:
            if len(self._buf) > self._max:
                size = len(self._buf)
                self._buf.clear()
                raise Sip2ProtocolError(f"{size} bytes without a CR: not SIP2")
            return None
        frame = bytes(self._buf[: cr + 1])
        del self._buf[: cr + 1]
        return frame

    def clear(self) -> None:
        self._buf.clear()
