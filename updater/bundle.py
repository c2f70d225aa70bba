"""A release bundle: its format (written by updater.release), fetching it, and checking
it against its manifest before anything is written to a slot.

A bundle is a gzipped tar of `manifest.json` (format, project, version, requirement,
and every other member's path, size and sha256) and `wheels/`, `sdists/`, `bin/` with
plain files under plain names.

What a caller may rely on: `fetch` returns a local path (a file, or an http(s)/file URL
downloaded into `incoming`, at most `MAX_BUNDLE_BYTES`); `verified_manifest` returns the
manifest only once every member of the tar stream has been read and found listed in it,
with that size and sha256, a plain file under a plain name, none twice and none
missing. Anything else raises UpdateRefused with a code and a reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from updater.results import Progress, UpdateRefused

PROJECT = "alliance-kiosk"
BUNDLE_FORMAT = 1
MAX_BUNDLE_BYTES = 2 * 1024**3
MANIFEST = "manifest.json"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
MEMBER_DIRS = ("wheels", "sdists", "bin")
_MEMBER_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]*")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(bundle: str, incoming: Path, say: Progress) -> Path:
    """The bundle as a local file: `bundle` itself, or downloaded into `incoming`."""
    scheme = urllib.parse.urlsplit(bundle).scheme
    if scheme not in ("http", "https", "file"):
        path = Path(bundle)
        if not path.is_file():
            raise UpdateRefused("no-bundle", f"no bundle at {bundle}")
        return path
    dest = incoming / "bundle.tar.gz"
    say(f"fetching {bundle}")
    try:
        with (
            urllib.request.urlopen(bundle, timeout=60) as response,
            dest.open("wb") as out,
        ):  # the scheme is checked above
            total = 0
            while chunk := response.read(1 << 20):
                total += len(chunk)
                if total > MAX_BUNDLE_BYTES:
                    raise UpdateRefused(
                        "too-large", f"the bundle is over {MAX_BUNDLE_BYTES >> 20} MB"
                    )
                out.write(chunk)
    except OSError as exc:
        raise UpdateRefused("fetch-failed", f"could not fetch {bundle}: {exc}") from None
    return dest


def verified_manifest(path: Path, say: Progress) -> dict[str, Any]:
    """The bundle's manifest, once every member has been read and matched against it."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            first = tar.extractfile(MANIFEST) if MANIFEST in tar.getnames() else None
            if first is None:
                raise UpdateRefused("bad-bundle", f"no {MANIFEST}")
            manifest = json.loads(first.read(1 << 20))
            files = manifest_files(manifest)
            seen = set()
            for i, member in enumerate(members, 1):
                if member.name == MANIFEST:
                    continue
                want = files.get(member.name)
                if want is None or not member.isfile():
                    raise UpdateRefused(
                        "bad-bundle", f"{member.name!r} is not a file listed in the manifest"
                    )
                if member.name in seen:
                    raise UpdateRefused("bad-bundle", f"{member.name!r} appears twice")
                seen.add(member.name)
                say(f"checking {i}/{len(members)} {Path(member.name).name}")
                data = tar.extractfile(member)
                assert data is not None
                digest, size = _stream_sha256(data)
                if size != want["size"] or digest != want["sha256"]:
                    raise UpdateRefused("bad-bundle", f"{member.name} does not match the manifest")
            if seen != set(files):
                raise UpdateRefused(
                    "bad-bundle", f"missing from the bundle: {sorted(set(files) - seen)[:3]}"
                )
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise UpdateRefused(
            "bad-bundle", f"not a readable bundle: {type(exc).__name__}: {exc}"
        ) from None
    return manifest


def manifest_files(manifest: Any) -> dict[str, dict[str, Any]]:
    """The manifest's members by path, once the manifest itself is one of ours."""
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != BUNDLE_FORMAT
        or manifest.get("name") != PROJECT
    ):
        raise UpdateRefused("bad-bundle", f"not an {PROJECT} bundle of format {BUNDLE_FORMAT}")
    if not isinstance(manifest.get("version"), str) or not VERSION_RE.match(manifest["version"]):
        raise UpdateRefused("bad-bundle", "the manifest's version is not a version")
    files: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("files", []):
        name = entry.get("path", "") if isinstance(entry, dict) else ""
        parts = name.split("/")
        if not (
            len(parts) == 2 and parts[0] in MEMBER_DIRS and _MEMBER_NAME.fullmatch(parts[1])
            and isinstance(entry.get("size"), int) and SHA256_RE.match(str(entry.get("sha256")))
        ):  # fmt: skip
            raise UpdateRefused(
                "bad-bundle", f"the manifest lists {name!r}, not a plain bundle file"
            )
        files[name] = entry
    if not any(n.startswith("wheels/") for n in files):
        raise UpdateRefused("bad-bundle", "the bundle holds no wheels")
    return files


def _stream_sha256(data: BinaryIO) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    while chunk := data.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size
