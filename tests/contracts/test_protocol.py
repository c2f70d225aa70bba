"""The MQTT contract rejects what it must, without echoing card numbers."""

import pytest

from contract import messages


def test_request_is_dispatched_by_op() -> None:
    req = messages.parse_request(b'{"v":1,"op":"return_route","item":"30101000000017","library_id":"xicheng"}')
    assert isinstance(req, messages.ReturnRoute)
    assert req.library_id == "xicheng"


def test_invalid_txn_reason_names_fields_not_values() -> None:
    raw = b'{"v":1,"txn_id":"t","kiosk_id":"k1","library_id":"x","kind":"loan","item":"1","card":{"scheme":"bj-joint","number":"0110000012345!"}}'
    with pytest.raises(messages.ProtocolError) as info:
        messages.parse(messages.Txn, raw)
    assert "0110000012345" not in info.value.reason
    assert "card.number" in info.value.reason


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(messages.ProtocolError, match="too large"):
        messages.parse(messages.Txn, b"[" * (messages.MAX_PAYLOAD_BYTES + 1))
