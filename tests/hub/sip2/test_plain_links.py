"""A member's system on plain TCP is allowed only by `allow_plain = true`, and then it
shows: a warning when the hub starts, and its transport on `hub status`'s SIP2 line,
beside the live checkouts waiting for their loan txn."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from hub.__main__ import _sip2_warnings, main
from hub.config import load_sip2
from hub.ledger.ils_live import mark_lent, record_pending
from hub.ledger.ledger import Ledger

TABLES = """
[sip2]
live_checkout_grace_s = 60

[sip2.systems.east]
host = "127.0.0.1"
port = 6001
user = "alliance"
password_file = "pw"
institution = "capital"
location = "alliance-kiosks"
tls = false
allow_plain = true

[sip2.systems.west]
host = "127.0.0.1"
port = 6002
user = "alliance"
password_file = "pw"
institution = "capital"
location = "alliance-kiosks"
tls_ca = "west-ca.pem"

[sip2.members]
dongcheng = "east"
xicheng = "west"
"""


def config(tmp_path: Path) -> Path:
    (tmp_path / "pw").write_text("secret\n")
    os.chmod(tmp_path / "pw", 0o600)
    (tmp_path / "west-ca.pem").write_text("")  # read only when connecting
    path = tmp_path / "hub.toml"
    path.write_text(f'[hub]\ndb = "sqlite:///{tmp_path}/hub.sqlite"\n' + TABLES)
    return path


def test_the_hub_warns_at_start_for_each_plain_link_and_only_for_those(tmp_path: Path) -> None:
    [warning] = _sip2_warnings(load_sip2(config(tmp_path)))
    assert warning.startswith("SIP2 system east (127.0.0.1:6001) on plain TCP (allow_plain = true)")
    assert "PINs cross the network readable" in warning


def test_hub_status_shows_each_links_transport_and_its_live_checkouts(tmp_path: Path, capsys) -> None:
    path = config(tmp_path)
    with Ledger.open(f"sqlite:///{tmp_path}/hub.sqlite") as ledger:
        now = datetime.now(UTC)
        call = record_pending(ledger.db, "east", "30101000000018", "capital", now,
                              patron_id="P", card_hash="h", kiosk_id="k1")  # fmt: skip
        mark_lent(ledger.db, call, None)
    assert main(["--config", str(path), "status", "--json"]) == 0
    systems = {s["system"]: s for s in json.loads(capsys.readouterr().out)["sip2_systems"]}
    assert (systems["east"]["transport"], systems["east"]["live"]) == ("PLAIN (allow_plain)", 1)
    assert (systems["west"]["transport"], systems["west"]["live"]) == ("tls (ca)", 0)
    assert main(["--config", str(path), "status"]) == 0
    table = capsys.readouterr().out
    assert "TRANSPORT" in table and "PLAIN (allow_plain)" in table and "tls (ca)" in table
