"""What the root updater trusts: files that root owns and no one else can change.

The updater (updater/) runs as root on an order that the unprivileged kiosk
leaves. So what decides whether an order is the hub's (the hub's public key, this
kiosk's id) and where releases live must come from files the kiosk's user cannot
write. The kiosk's own config is not such a file (an older install gave it to the
kiosk's user): the updater reads nothing of it. scripts/install-pi.sh writes the trust
directory (under `--root DIR`, the same paths inside DIR):

    /etc/alliance-kiosk/trust/                 root:root 0755
        updater.toml                           root:root 0644
            kiosk_id = "xicheng-3"             the kiosk id the hub signs commands for
            release_dir = "/opt/alliance-kiosk"   optional; this is the default
        hub-signing.pub                        root:root 0644, the hub's Ed25519 public key

What a caller may rely on: `load_trust` returns a `Trust` only when both files, and every
directory above them up to `/`, are owned by root or `trusted_uid` and writable by no
one else (a world-writable directory counts only with its sticky bit, as /tmp has), the
files are plain files and not links, and what is read is the very file that was checked
(opened without following a link, then checked through the open descriptor). The release
directory is checked the same way, as far as it exists: whoever can write it can plant
a release. Anything else raises `TrustError` whose message is one sentence that names
the file and says what to do. `trusted_uid` defaults to the updater's own effective uid
(root on a kiosk); tests pass another uid to play the kiosk's user.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from updater.layout import DEFAULT_RELEASE_DIR

TRUST_DIR = "/etc/alliance-kiosk/trust"
TRUST_FILE = "updater.toml"
HUB_KEY_FILE = "hub-signing.pub"
KIOSK_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # contract.messages.KioskId
MAX_FILE_BYTES = 64 * 1024
_KEYS = frozenset({"kiosk_id", "release_dir"})
_HOW = 'docs/pi.md, "The trust directory"'


class TrustError(Exception):
    """A trust file is missing, or someone other than root could have changed it: the
    message is one sentence naming the file and the fix."""


@dataclass(frozen=True)
class Trust:
    """What the trust directory says, once every file of it was found root's alone."""

    kiosk_id: str
    hub_key: Ed25519PublicKey
    release_dir: str  # as on the kiosk (absolute); updater.layout.Layout places it under its root


def trust_dir(root: Path) -> Path:
    """The trust directory of the install under `root` (`/` on a kiosk)."""
    return root / TRUST_DIR.lstrip("/")


def load_trust(directory: Path, *, root: Path = Path("/"), trusted_uid: int | None = None) -> Trust:
    """The trust directory's contents, or TrustError (see the module doc)."""
    uid = os.geteuid() if trusted_uid is None else trusted_uid
    directory = Path(os.path.abspath(directory))
    settings = _parse(directory / TRUST_FILE, _read_trusted(directory / TRUST_FILE, uid))
    key_path = directory / HUB_KEY_FILE
    hub_key = _parse_key(key_path, _read_trusted(key_path, uid))
    release_dir = settings.get("release_dir", DEFAULT_RELEASE_DIR)
    existing = Path(os.path.abspath(root / release_dir.lstrip("/")))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    _check_directories(existing, uid)
    return Trust(kiosk_id=settings["kiosk_id"], hub_key=hub_key, release_dir=release_dir)


def _read_trusted(path: Path, uid: int) -> bytes:
    """The bytes of `path`, checked as the module doc says."""
    try:
        _check_directories(path.parent, uid)
        real = Path(os.path.realpath(path.parent)) / path.name
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TrustError(
            f"{path} does not exist: hub-ordered updates need the root-owned trust directory "
            f"that scripts/install-pi.sh writes ({_HOW}), so none is installed"
        ) from None
    except OSError as exc:
        if path.is_symlink():
            raise TrustError(
                f"{path} is a link: the updater reads only plain files of the trust directory, "
                f"so replace it with the file itself (owned by root)"
            ) from None
        raise TrustError(
            f"{path} cannot be read ({exc.strerror}), so no order can be checked"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TrustError(f"{path} is not a plain file, so the updater does not trust it")
        _check_owner_and_mode(path, st, uid)
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise TrustError(f"{path} is over {MAX_FILE_BYTES // 1024} KB: not a trust file")
    return data


def _check_directories(directory: Path, uid: int) -> None:
    """`directory` and each one above it, both as named and as links resolve them: root's
    or `uid`'s, and writable by no one else unless sticky. A link itself is skipped: only
    whoever may write the directory holding it can replace it, and that one is checked."""
    named = Path(os.path.abspath(directory))
    real = Path(os.path.realpath(directory))
    for d in sorted({named, *named.parents, real, *real.parents}):
        st = os.lstat(d)
        if not stat.S_ISLNK(st.st_mode):
            _check_owner_and_mode(d, st, uid, sticky_ok=True)


def _check_owner_and_mode(
    path: Path, st: os.stat_result, uid: int, *, sticky_ok: bool = False
) -> None:
    owners = "root" if uid == 0 else f"root or uid {uid}"
    if st.st_uid not in (0, uid):
        raise TrustError(
            f"{path} belongs to uid {st.st_uid}, not {owners}: the updater trusts only files "
            f"root owns, so chown root:root {path} and find out who changed it"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022 and not (sticky_ok and mode & stat.S_ISVTX):
        raise TrustError(
            f"{path} can be changed by group or others (mode {mode:04o}): the updater trusts "
            f"only files no one but root can change, so chmod go-w {path} and check its contents"
        )


def _parse(path: Path, data: bytes) -> dict[str, str]:
    try:
        settings = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TrustError(f"{path} is not valid TOML ({exc})") from None
    unknown = sorted(set(settings) - _KEYS)
    if unknown:
        raise TrustError(
            f"{path} has unknown keys {unknown}: it holds only kiosk_id and release_dir"
        )
    kiosk_id = settings.get("kiosk_id")
    if not isinstance(kiosk_id, str) or not KIOSK_ID_RE.match(kiosk_id):
        raise TrustError(
            f"{path}: kiosk_id {kiosk_id!r} is not a kiosk id (a-z, 0-9, - and _, up to 64), "
            f"so no order can be checked against it"
        )
    release_dir = settings.get("release_dir", DEFAULT_RELEASE_DIR)
    if (
        not isinstance(release_dir, str)
        or not PurePosixPath(release_dir).is_absolute()
        or ".." in PurePosixPath(release_dir).parts
    ):
        raise TrustError(f"{path}: release_dir {release_dir!r} is not an absolute path")
    return {"kiosk_id": kiosk_id, "release_dir": release_dir}


def _parse_key(path: Path, data: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise TrustError(
            f"{path} is not a PEM public key: copy hub-signing.pub from the hub again"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustError(f"{path} is not an Ed25519 public key (the hub signs with Ed25519)")
    return key
