"""Issue 16, finding 1: the kiosk's user must not become root through the updater.

The attack, as it was: the service user owned /etc/alliance-kiosk/kiosk.toml, the root
updater trusted the hub key that file named, so the kiosk's user pointed
`hub_public_key` at its own key, signed an `update` order and root installed it. Here
the kiosk's user is played by a real process running as uid 65534 (the tests run as
root, which can hand files to that uid and start a process as it): it rewrites every file
it can reach in an install laid out by scripts/install-pi.sh, and the root updater
refuses its order and installs nothing. The trust directory's checks (owner, mode,
parents, links) are each shown refusing with real files, chowned to that uid."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import signing
from contract.update_files import ORDER_FILE
from firmware.update_order import order_update
from tests.update.conftest import install_pi, write_trust
from tests.update.test_order_verification import signed_update
from updater.cli import main
from updater.layout import Layout
from updater.trust import TrustError, load_trust, trust_dir

KIOSK_USER = 65534  # nobody: plays alliance-kiosk
KIOSK = "xicheng-3"
VERSION = "0.1.0"  # the checkout's, as install-pi.sh installs it

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: files are handed to another uid to play the kiosk's user"
)

# The kiosk's user at work: tries to open every file it can reach for writing and to
# create a file in every directory, then makes the writes it was told to make (in
# place, or by a new file renamed over the old one). Only the standard library: it is
# any program the service user might run.
ATTACKER = r"""
import json, os, sys
plan = json.load(sys.stdin)
root = plan["root"]
wrote, refused = [], []
def attempt(what, action):
    try:
        action()
        wrote.append(what)
    except OSError:
        refused.append(what)
for folder, _dirs, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        if not os.path.islink(path):
            attempt(os.path.relpath(path, root), lambda p=path: open(p, "r+b").close())
    probe = os.path.join(folder, ".kiosk-was-here")
    attempt(os.path.relpath(folder, root) + "/",
            lambda p=probe: (open(p, "x").close(), os.unlink(p)))
for rel, text in plan["writes"].items():
    path = os.path.join(root, rel)
    def in_place(p=path, t=text):
        with open(p, "w") as f:
            f.write(t)
    def renamed(p=path, t=text):
        with open(p + ".new", "w") as f:
            f.write(t)
        os.replace(p + ".new", p)
    try:
        in_place()
        wrote.append("write " + rel)
    except OSError:
        attempt("write " + rel, renamed)
json.dump({"wrote": wrote, "refused": refused}, sys.stdout)
"""


def _as_systemd_would(root: Path) -> None:
    """What install-pi.sh only prints under --root, and systemd does at start: the state
    directory is the kiosk user's; the config directory and kiosk.toml root's, with the
    service's group."""
    for folder in (root / "var/lib/alliance-kiosk", root / "var/lib/alliance-kiosk/kivy"):
        os.chown(folder, KIOSK_USER, KIOSK_USER)
    os.chown(root / "etc/alliance-kiosk", 0, KIOSK_USER)
    os.chown(root / "etc/alliance-kiosk/kiosk.toml", 0, KIOSK_USER)


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[tuple[Path, signing.Ed25519PrivateKey]]:
    """An install laid out by install-pi.sh with the hub's key, in a root the kiosk user
    can walk (pytest's own temporary directories are root's 0700)."""
    private, public = signing.generate_key_pem()
    (tmp_path / "hub.pub").write_bytes(public)
    from cryptography.hazmat.primitives import serialization

    hub_key = serialization.load_pem_private_key(private, password=None)
    root = Path(tempfile.mkdtemp(prefix="kiosk-attack-", dir="/tmp"))
    root.chmod(0o755)
    try:
        install_pi(root, "--kiosk-id", KIOSK, "--hub-public-key", str(tmp_path / "hub.pub"))
        _as_systemd_would(root)
        yield root, hub_key  # type: ignore[misc]
    finally:
        shutil.rmtree(root)


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    return {
        str(p.relative_to(folder)): (str(p.readlink()) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir")
        for p in sorted(folder.rglob("*"))
    }  # fmt: skip


@pytest.mark.parametrize("config_owner", ["root", "kiosk user (an older install)"])
def test_the_kiosk_user_rewrites_what_it_can_and_signs_its_own_order_and_root_installs_nothing(
    installed: tuple[Path, signing.Ed25519PrivateKey], tmp_path: Path, config_owner: str
) -> None:
    root, _hub_key = installed
    config = root / "etc/alliance-kiosk/kiosk.toml"
    if config_owner != "root":  # as install-pi.sh left it before: the service user's, 0600
        os.chown(config, KIOSK_USER, KIOSK_USER)
        config.chmod(0o600)
    state = root / "var/lib/alliance-kiosk"
    # The kiosk user's own key, and an update order signed with it for this kiosk.
    own_private, own_public = signing.generate_key_pem()
    from cryptography.hazmat.primitives import serialization

    own_key = serialization.load_pem_private_key(own_private, password=None)
    evil_bundle = b"the kiosk user's own release"
    sha = hashlib.sha256(evil_bundle).hexdigest()
    url = (state / "evil.tar.gz").as_uri()
    signed = signed_update(own_key, kiosk=KIOSK, url=url, sha256=sha)  # type: ignore[arg-type]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    order_update(scratch, url, sha, "c-1", signed=signed, env={"INVOCATION_ID": "x"})
    evil_pub = state / "evil.pub"
    redirected = config.read_text().replace(
        'hub_public_key = "/etc/alliance-kiosk/trust/hub-signing.pub"', f'hub_public_key = "{evil_pub}"'
    )
    assert redirected != config.read_text()
    trust_before = _snapshot(trust_dir(root))
    opt_before = _snapshot(root / "opt")
    writes = {
        "var/lib/alliance-kiosk/evil.pub": own_public.decode(),
        "var/lib/alliance-kiosk/evil.tar.gz": evil_bundle.decode(),
        "etc/alliance-kiosk/kiosk.toml": redirected,
        "etc/alliance-kiosk/trust/hub-signing.pub": own_public.decode(),
        "etc/alliance-kiosk/trust/updater.toml": f'kiosk_id = "{KIOSK}"\nrelease_dir = "/var/lib/alliance-kiosk"\n',
        f"var/lib/alliance-kiosk/{ORDER_FILE}": (scratch / ORDER_FILE).read_text(),
    }
    attack = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", ATTACKER], input=json.dumps({"root": str(root), "writes": writes}),
        capture_output=True, text=True, timeout=60, user=KIOSK_USER, group=KIOSK_USER, extra_groups=[],
        cwd="/",
    )  # fmt: skip
    assert attack.returncode == 0, attack.stderr
    done = json.loads(attack.stdout)
    wrote = set(done["wrote"])
    # It really is the kiosk's user: its own state is writable, nothing of root's is.
    assert f"write var/lib/alliance-kiosk/{ORDER_FILE}" in wrote and "var/lib/alliance-kiosk/" in wrote
    assert not [w for w in wrote if "trust" in w or w.startswith(("opt", "etc/systemd", "usr"))], wrote
    assert ("write etc/alliance-kiosk/kiosk.toml" in wrote) == (config_owner != "root")
    assert "etc/alliance-kiosk/" not in wrote and "etc/alliance-kiosk/trust/" not in wrote
    assert _snapshot(trust_dir(root)) == trust_before
    # The order is signed: with the key the (rewritable) config named, it verifies.
    command = json.loads((state / ORDER_FILE).read_text())["command"]
    assert command is not None and signed.as_json() == command
    # Root's updater, as alliance-kiosk-update.service runs it.
    assert main(["--order", str(state / ORDER_FILE), "--root", str(root)]) == 1
    result = json.loads((state / "last-update.json").read_text())
    assert result["result"] == "refused", result
    assert f"not signed by the hub for kiosk {KIOSK}: bad-signature" in result["reason"]
    assert _snapshot(root / "opt") == opt_before  # nothing installed, nothing switched
    layout = Layout(root)
    assert layout.current_version() == VERSION == layout.last_healthy_version()
    assert sorted(p.name for p in layout.releases.iterdir()) == [VERSION]


def test_a_genuine_order_is_refused_while_the_trust_directory_is_one_the_kiosk_user_could_change(
    installed: tuple[Path, signing.Ed25519PrivateKey],
) -> None:
    """Even the hub's own signature is not enough when the kiosk's user could have
    swapped the key it is checked with: the refusal says so in one sentence."""
    root, hub_key = installed
    state = root / "var/lib/alliance-kiosk"
    key_file = trust_dir(root) / "hub-signing.pub"
    os.chown(key_file, KIOSK_USER, KIOSK_USER)
    order_update(state, "file:///good.tar.gz", "a" * 64, "c-1", signed=signed_update(hub_key, kiosk=KIOSK),
                 env={"INVOCATION_ID": "x"})  # fmt: skip
    assert main(["--order", str(state / ORDER_FILE), "--root", str(root)]) == 1
    reason = json.loads((state / "last-update.json").read_text())["reason"]
    assert reason == (
        f"order refused: {key_file} belongs to uid {KIOSK_USER}, not root: the updater trusts only "
        f"files root owns, so chown root:root {key_file} and find out who changed it"
    )[:300]
    assert sorted(p.name for p in Layout(root).releases.iterdir()) == [VERSION]


# ---- the trust directory's checks, one by one ---------------------------------------------


@pytest.fixture
def trust_root(tmp_path: Path) -> Path:
    _private, public = signing.generate_key_pem()
    (tmp_path / "hub.pub").write_bytes(public)
    root = tmp_path / "root"
    write_trust(root, tmp_path / "hub.pub", kiosk=KIOSK)
    return root


def _refused(root: Path, **kw: int) -> str:
    with pytest.raises(TrustError) as caught:
        load_trust(trust_dir(root), root=root, **kw)
    message = str(caught.value)
    assert "\n" not in message and message.count(": ") <= 2, message  # one sentence
    return message


def test_the_trust_directory_as_written_loads(trust_root: Path) -> None:
    trust = load_trust(trust_dir(trust_root), root=trust_root)
    assert (trust.kiosk_id, trust.release_dir) == (KIOSK, "/opt/alliance-kiosk")


@pytest.mark.parametrize(
    "owned_by_kiosk", ["trust/updater.toml", "trust/hub-signing.pub", "trust", ".", "../../opt/alliance-kiosk"]
)
def test_a_trust_file_or_directory_the_kiosk_user_owns_is_refused(trust_root: Path, owned_by_kiosk: str) -> None:
    path = trust_dir(trust_root).parent / owned_by_kiosk
    if not path.exists():  # the release directory: checked as far as it exists
        path.mkdir(parents=True)
    os.chown(path, KIOSK_USER, KIOSK_USER)
    message = _refused(trust_root)
    assert message.startswith(f"{Path(os.path.abspath(path))} belongs to uid {KIOSK_USER}, not root")


@pytest.mark.parametrize("where", ["trust/updater.toml", "trust/hub-signing.pub", "trust", ".", "../.."])
@pytest.mark.parametrize("mode", [0o020, 0o002])
def test_a_trust_file_or_directory_group_or_others_can_write_is_refused(
    trust_root: Path, where: str, mode: int
) -> None:
    path = trust_dir(trust_root).parent / where
    path.chmod(path.stat().st_mode | mode)
    message = _refused(trust_root)
    assert message.startswith(f"{Path(os.path.abspath(path))} can be changed by group or others (mode ")
    assert "chmod go-w" in message


def test_a_sticky_world_writable_directory_above_is_accepted_as_tmp_is(trust_root: Path) -> None:
    (trust_root / "etc").chmod(0o1777)
    assert load_trust(trust_dir(trust_root), root=trust_root).kiosk_id == KIOSK


def test_a_trust_file_that_is_a_link_to_the_kiosk_users_file_is_refused(trust_root: Path) -> None:
    state = trust_root / "var/lib/alliance-kiosk"
    state.mkdir(parents=True)
    own = state / "updater.toml"
    own.write_text(f'kiosk_id = "{KIOSK}"\n')
    own.chmod(0o644)  # the mode is fine: only the link gives it away
    link = trust_dir(trust_root) / "updater.toml"
    link.unlink()
    link.symlink_to(own)
    assert _refused(trust_root).startswith(f"{link} is a link")


def test_a_trust_directory_that_is_a_link_into_the_kiosk_users_state_is_refused(trust_root: Path) -> None:
    state = trust_root / "var/lib/alliance-kiosk"
    state.mkdir(parents=True)
    moved = state / "trust"
    trust_dir(trust_root).rename(moved)
    trust_dir(trust_root).symlink_to(moved)
    os.chown(state, KIOSK_USER, KIOSK_USER)
    assert _refused(trust_root).startswith(f"{state} belongs to uid {KIOSK_USER}, not root")


def test_a_missing_trust_file_is_one_sentence_saying_what_is_needed(tmp_path: Path) -> None:
    message = _refused(tmp_path)
    assert message == (
        f"{trust_dir(tmp_path) / 'updater.toml'} does not exist: hub-ordered updates need the "
        'root-owned trust directory that scripts/install-pi.sh writes (docs/pi.md, "The trust '
        'directory"), so none is installed'
    )


@pytest.mark.parametrize(
    "text, says",
    [
        ('kiosk_id = "Bad/Id"\n', "is not a kiosk id"),
        ('kiosk_id = "k"\nhub_public_key = "/var/lib/alliance-kiosk/evil.pub"\n', "unknown keys ['hub_public_key']"),
        ('kiosk_id = "k"\nrelease_dir = "opt"\n', "is not an absolute path"),
        ("kiosk_id = \n", "is not valid TOML"),
    ],
)
def test_a_trust_file_that_says_something_else_is_refused(trust_root: Path, text: str, says: str) -> None:
    (trust_dir(trust_root) / "updater.toml").write_text(text)
    assert says in _refused(trust_root)


def test_the_owner_the_updater_trusts_is_its_own_uid_not_a_name(trust_root: Path) -> None:
    """`trusted_uid` (default: the updater's euid) decides, beside root: files of uid
    65534 are trusted only by an updater running as 65534, never by root's."""
    for path in (trust_dir(trust_root), *trust_dir(trust_root).iterdir()):
        os.chown(path, KIOSK_USER, KIOSK_USER)
    assert load_trust(trust_dir(trust_root), root=trust_root, trusted_uid=KIOSK_USER).kiosk_id == KIOSK
    assert "not root:" in _refused(trust_root)
    os.chown(trust_dir(trust_root) / "updater.toml", 1234, 1234)
    assert "belongs to uid 1234, not root or uid 65534" in _refused(trust_root, trusted_uid=KIOSK_USER)
