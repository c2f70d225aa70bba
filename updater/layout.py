"""Where an install lives (see the package doc for the tree), and the only ways the
updater changes which release runs: pointing `current` or `last-healthy` at a slot.

What a caller may rely on: `point` replaces a link atomically (a new symlink renamed
over it) and durably (the directory fsync'd), so after a power cut the link is the old
one or the new one; `complete(version)` is true only for a slot whose installed mark
(its manifest, written last) is there, and only such slots are ever pointed at by the
updater's callers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from contract.atomic_files import sync_directory
from contract.health_file import HEALTH_FILE
from contract.update_files import LAST_UPDATE_FILE

DEFAULT_RELEASE_DIR = "/opt/alliance-kiosk"
DATA_DIR = "var/lib/alliance-kiosk"  # the kiosk's StateDirectory=
INSTALLED_MARK = "manifest.json"  # written into the slot last: a slot without it is half-installed
CURRENT = "current"
LAST_HEALTHY = "last-healthy"  # a symlink beside `current`, moved only after a healthy verdict
PENDING = "update-pending.json"  # there from the switch until the verdict is recorded


@dataclass(frozen=True)
class Layout:
    """Where an install lives, under `root` (`/` on the Pi)."""

    root: Path = Path("/")
    release_dir: str = DEFAULT_RELEASE_DIR  # as on the kiosk; the trust file may name another

    @property
    def base(self) -> Path:
        return self.root / self.release_dir.lstrip("/")

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def current(self) -> Path:
        return self.base / CURRENT

    @property
    def last_healthy(self) -> Path:
        return self.base / LAST_HEALTHY

    @property
    def pending_file(self) -> Path:
        return self.base / PENDING

    @property
    def data(self) -> Path:
        return self.root / DATA_DIR

    @property
    def health_file(self) -> Path:
        return self.data / HEALTH_FILE

    @property
    def result_file(self) -> Path:
        return self.data / LAST_UPDATE_FILE

    def current_version(self) -> str | None:
        return _pointed_at(self.current)

    def last_healthy_version(self) -> str | None:
        return _pointed_at(self.last_healthy)

    def complete(self, version: str | None) -> bool:
        """Whether `releases/<version>` is a whole slot (its installed mark written last)."""
        return version is not None and (self.releases / version / INSTALLED_MARK).is_file()


def _pointed_at(link: Path) -> str | None:
    target = os.readlink(link) if link.is_symlink() else None
    return Path(target).name if target else None


def point(layout: Layout, name: str, version: str) -> None:
    """`name` (`current` or `last-healthy`) -> releases/<version>: see the module doc."""
    new = layout.base / f".{name}.new"
    with contextlib.suppress(FileNotFoundError):
        new.unlink()
    new.symlink_to(f"releases/{version}")
    os.replace(new, layout.base / name)
    sync_directory(layout.base)


def switch(layout: Layout, version: str) -> None:
    """`current` -> releases/<version>: what systemd starts next."""
    point(layout, CURRENT, version)


def prune(layout: Layout, keep: Iterable[str | None]) -> None:
    """Remove every slot but those in `keep` and the last healthy one."""
    kept = {*keep, layout.last_healthy_version()}
    for slot in layout.releases.iterdir():
        if slot.name not in kept:
            remove(slot)


def remove(path: Path) -> None:
    """Remove a slot (or a stray file or link where one would go)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
