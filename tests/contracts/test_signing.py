"""contract.signing: what a signature binds, and the reasons `verify` gives."""

from __future__ import annotations

import pytest

from contract import signing

KEY = signing.Ed25519PrivateKey.generate()
PUB = KEY.public_key()
PAYLOAD = b'{"v":1,"txn_id":"0123456789-k1","result":"committed"}'
NOW = 1_800_000_000


def signed(**changes: object) -> list[tuple[str, str]]:
    fields = {"kiosk_id": "k1", "leaf": "ack", "message_id": "0123456789-k1", "payload": PAYLOAD}
    fields.update(changes)
    return signing.sign(KEY, exp=NOW + 60, **fields).user_properties()  # type: ignore[arg-type]


def check(props: list[tuple[str, str]] | None, **changes: object) -> signing.Verdict:
    fields: dict[str, object] = {
        "kiosk_id": "k1", "leaf": "ack", "message_id": "0123456789-k1", "payload": PAYLOAD, "now": NOW
    }  # fmt: skip
    fields.update(changes)
    return signing.verify(PUB, user_properties=props, **fields)  # type: ignore[arg-type]


def test_a_signed_message_verifies_until_it_expires() -> None:
    assert check(signed())
    assert check(signed(), now=NOW + 60)
    assert check(signed(), now=NOW + 61) == signing.Verdict(False, "expired")


@pytest.mark.parametrize(
    "change",
    [
        {"kiosk_id": "k2"},
        {"leaf": "resp"},
        {"message_id": "0123456789-k2"},
        {"payload": PAYLOAD.replace(b"committed", b"rejected")},
    ],
)
def test_the_signature_binds_kiosk_leaf_id_and_payload(change: dict[str, object]) -> None:
    assert check(signed(), **change) == signing.Verdict(False, "bad-signature")


def test_an_altered_expiry_breaks_the_signature() -> None:
    sig, _exp = signed()
    assert check([sig, ("exp", str(NOW + 86400))]) == signing.Verdict(False, "bad-signature")


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        (None, "unsigned"),
        ([("other", "x")], "unsigned"),
        ([("sig", "!!"), ("exp", "1")], "malformed"),
        ([("sig", "AAAA"), ("exp", "1")], "malformed"),
        ([("exp", "1")], "malformed"),
        ([*signed(), *signed()], "malformed"),
    ],
)
def test_unsigned_and_malformed_envelopes_are_named(props, reason: str) -> None:
    assert check(props) == signing.Verdict(False, reason)


def test_another_key_does_not_verify() -> None:
    other = signing.Ed25519PrivateKey.generate()
    props = signing.sign(other, "k1", "ack", "0123456789-k1", PAYLOAD, exp=NOW + 60).user_properties()
    assert check(props) == signing.Verdict(False, "bad-signature")
