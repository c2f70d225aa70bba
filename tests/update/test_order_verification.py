"""The root updater installs only what the hub signed: the order file is written by the
unprivileged kiosk, so its plain fields are never trusted; the signed command inside it
is checked with the hub's key and the kiosk id from the root-owned trust directory
(updater.trust; the attacks on that directory are in test_update_trust.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from contract import messages, signing
from contract.update_files import ORDER_FILE, SignedCommand
from firmware.update_order import order_update
from tests.update.conftest import write_trust
from updater.cli import main
from updater.order import OrderRefused, verified_order
from updater.trust import Trust, load_trust

KIOSK = "k-upd"
SHA = "a" * 64


@pytest.fixture
def hub_key(tmp_path: Path) -> signing.Ed25519PrivateKey:
    private, public = signing.generate_key_pem()
    (tmp_path / "hub.pub").write_bytes(public)
    (tmp_path / "hub.pub").chmod(0o644)
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(private, password=None)  # type: ignore[return-value]


def trust(root: Path) -> Trust:
    return load_trust(write_trust(root, root.parent / "hub.pub", KIOSK), root=root)


def signed_update(key: signing.Ed25519PrivateKey, kiosk: str = KIOSK, url: str = "file:///good.tar.gz",
                  sha256: str = SHA) -> SignedCommand:  # fmt: skip
    command = messages.Command(cmd="update", cmd_id="c-1", bundle_url=url, sha256=sha256)
    payload = messages.encode(command)
    sig = signing.sign(key, kiosk, "cmd", command.cmd_id, payload, exp=int(time.time()) + 600)
    return SignedCommand(payload, tuple(sig.user_properties()))


def leave_order(state: Path, signed: SignedCommand | None, url: str = "file:///good.tar.gz") -> dict:
    state.mkdir(parents=True, exist_ok=True)
    order_update(state, url, SHA, "c-1", signed=signed, env={"INVOCATION_ID": "x"})
    return json.loads((state / ORDER_FILE).read_text())


def test_a_hub_signed_order_gives_the_signed_bundle_even_if_the_plain_fields_were_changed(
    tmp_path: Path, hub_key: signing.Ed25519PrivateKey
) -> None:
    root = tmp_path / "root"
    order = leave_order(root / "state", signed_update(hub_key))
    order["bundle_url"], order["sha256"] = "file:///evil.tar.gz", "b" * 64  # the kiosk lied
    assert verified_order(order, trust(root), time.time()) == ("file:///good.tar.gz", SHA, "c-1")


@pytest.mark.parametrize("case", ["unsigned", "other-key", "other-kiosk", "expired"])
def test_an_order_the_hub_did_not_sign_for_this_kiosk_is_refused(
    tmp_path: Path, hub_key: signing.Ed25519PrivateKey, case: str
) -> None:
    root = tmp_path / "root"
    signed = {
        "unsigned": None,
        "other-key": signed_update(signing.Ed25519PrivateKey.generate()),
        "other-kiosk": signed_update(hub_key, kiosk="k-other"),
        "expired": signed_update(hub_key),
    }[case]
    order = leave_order(root / "state", signed)
    now = time.time() + (3600 if case == "expired" else 0)
    with pytest.raises(OrderRefused):
        verified_order(order, trust(root), now)


def test_an_order_is_refused_and_recorded_when_the_trust_directory_has_no_hub_key(
    tmp_path: Path, hub_key: signing.Ed25519PrivateKey
) -> None:
    root = tmp_path / "root"
    (write_trust(root, tmp_path / "hub.pub", KIOSK) / "hub-signing.pub").unlink()
    state = root / "var/lib/alliance-kiosk"
    leave_order(state, signed_update(hub_key))
    assert main(["--order", str(state / ORDER_FILE), "--root", str(root)]) == 1
    result = json.loads((state / "last-update.json").read_text())
    assert result["result"] == "refused"
    assert "hub-signing.pub does not exist: hub-ordered updates need the root-owned trust directory" in result["reason"]
    assert not (root / "opt/alliance-kiosk/releases").exists()


def test_the_updater_records_a_refused_order_and_installs_nothing(
    tmp_path: Path, hub_key: signing.Ed25519PrivateKey
) -> None:
    root = tmp_path / "root"
    write_trust(root, tmp_path / "hub.pub", KIOSK)
    state = root / "var/lib/alliance-kiosk"
    leave_order(state, signed_update(signing.Ed25519PrivateKey.generate()))
    assert main(["--order", str(state / ORDER_FILE), "--root", str(root)]) == 1
    result = json.loads((state / "last-update.json").read_text())
    assert result["result"] == "refused" and "not signed by the hub" in result["reason"]
    assert not (state / ORDER_FILE).exists()
    assert not (root / "opt/alliance-kiosk/releases").exists()


@pytest.mark.parametrize("kind", ["link to a root file", "fifo"])
def test_an_order_that_is_not_a_plain_file_is_removed_unread(tmp_path: Path, kind: str) -> None:
    """The kiosk's user writes the state directory: root does not follow its links
    (to a file only root may read) nor block on a FIFO."""
    from updater.order import take_order

    secret = tmp_path / "root-only.json"
    secret.write_text(json.dumps({"bundle_url": "file:///root-only", "sha256": SHA}))
    secret.chmod(0o600)
    order = tmp_path / ORDER_FILE
    if kind == "fifo":
        os.mkfifo(order)
    else:
        order.symlink_to(secret)
    assert take_order(order) is None
    assert not order.exists() and not order.is_symlink() and secret.exists()
