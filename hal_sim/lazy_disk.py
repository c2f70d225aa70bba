"""A disk that forgets what was never synced: the kiosk's SD card at a power cut.

Why: killing the kiosk (SIGKILL) keeps the operating system's page cache, so it cannot
show that a journal row reached stable storage before the reader was told. This is a
FUSE passthrough filesystem in the spirit of LazyFS: it keeps every write that was not
yet fsync'd in its own memory, and only `fsync`/`fdatasync` of a file carries that
file's data down to the backing directory (the "flash"). Closing a file syncs nothing.
The power cut is SIGKILL of this process (`hal_sim.lazy_disk_mount.LazyDisk.power_cut`):
what it held in memory is gone, the backing directory keeps the synced state only, and
mounting it again shows the kiosk what a rebooted device would find.

What a caller may rely on: a file's content on the backing directory is, at every
moment, exactly its content as of its last fsync (files never synced are empty there);
reads through the mount see every write at once, as a page cache would. Names are
simpler than on a real disk: creating, renaming and deleting a file are durable at once
(SQLite's own directory fsync is accepted and does nothing more).

A test can also hold every fsync (`hold` on stdin): the writes are taken, the sync does
not return, and the power can be cut at that very moment; the disk says `HELD PATH` when
an fsync of PATH is waiting, which is how a test knows a journal commit is under way.

Run as `python -m hal_sim.lazy_disk BACKING MOUNTPOINT`: it prints READY once mounted
and serves in the foreground until killed or unmounted. It needs /dev/fuse, libfuse 3
(Debian's `fuse3`) and `mfusepy`.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAGE = 4096  # dirty data is tracked, and carried down at fsync, in pages of this size


@dataclass
class CachedFile:
    """One file as the kiosk sees it: its whole content, and the pages changed since it
    was last synced (`size_synced` is its length on the backing directory)."""

    data: bytearray
    size_synced: int
    dirty: set[int] = field(default_factory=set)

    def write(self, offset: int, chunk: bytes) -> None:
        end = offset + len(chunk)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = chunk
        self.dirty.update(range(offset // PAGE, (end - 1) // PAGE + 1))

    def truncate(self, length: int) -> None:
        if length < len(self.data):
            del self.data[length:]
        else:
            self.dirty.update(range(len(self.data) // PAGE, length // PAGE + 1))
            self.data.extend(bytes(length - len(self.data)))

    def sync_to(self, backing_path: str) -> None:
        """Carry the dirty pages and the current length down to the backing file."""
        fd = os.open(backing_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for page in sorted(self.dirty):
                start = page * PAGE
                if start < len(self.data):
                    os.pwrite(fd, bytes(self.data[start : start + PAGE]), start)
            os.ftruncate(fd, len(self.data))
        finally:
            os.close(fd)
        self.dirty.clear()
        self.size_synced = len(self.data)


class LazyOperations:
    """The FUSE callbacks (mfusepy's `Operations` protocol, path based). One lock guards
    every call: the kiosk's threads are few and the files small."""

    use_ns = True  # mfusepy: times are integer nanoseconds both ways

    def __init__(self, backing: str, on_held_sync: Callable[[str], None] | None = None) -> None:
        self.backing = os.path.realpath(backing)
        self.files: dict[str, CachedFile] = {}
        self._mutex = threading.Lock()
        # While set, every fsync waits here before it syncs anything: a card that has
        # taken the writes and not yet made them durable (see `hold_syncs`).
        self._syncs_go = threading.Event()
        self._syncs_go.set()
        self._on_held_sync = on_held_sync or (lambda path: None)

    def hold_syncs(self) -> None:
        """From now on an fsync does not return (nor sync) until `release_syncs`: the
        caller can cut the power at the very moment a file is being made durable."""
        self._syncs_go.clear()

    def release_syncs(self) -> None:
        self._syncs_go.set()

    # ---- helpers ----

    def _real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _cached(self, path: str) -> CachedFile:
        found = self.files.get(path)
        if found is None:
            with open(self._real(path), "rb") as f:
                content = f.read()
            found = self.files[path] = CachedFile(bytearray(content), len(content))
        return found

    # ---- files ----

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        with self._mutex:
            st = _stat(self._real(path))
            attrs = {key: getattr(st, key) for key in _STAT_KEYS}
            attrs.update({key: getattr(st, f"{key}_ns") for key in _TIME_KEYS})
            cached = self.files.get(path)
            if cached is not None:
                attrs["st_size"] = len(cached.data)
                attrs["st_blocks"] = (len(cached.data) + 511) // 512
            return attrs

    def open(self, path: str, flags: int) -> int:
        with self._mutex:
            _stat(self._real(path))
            cached = self._cached(path)
            if flags & os.O_TRUNC:
                cached.truncate(0)
            return 0

    def create(self, path: str, mode: int, flags: int = 0) -> int:
        with self._mutex:
            fd = _os(os.open, self._real(path), os.O_WRONLY | os.O_CREAT, mode)
            os.close(fd)
            cached = self._cached(path)
            if flags & os.O_TRUNC:
                cached.truncate(0)
            return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._mutex:
            return bytes(self._cached(path).data[offset : offset + size])

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self._mutex:
            self._cached(path).write(offset, data)
            return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self._mutex:
            self._cached(path).truncate(length)
            return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        if not self._syncs_go.is_set():
            self._on_held_sync(path)
            self._syncs_go.wait()
        with self._mutex:
            cached = self.files.get(path)
            if cached is not None:
                cached.sync_to(self._real(path))
            return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close(2) syncs nothing: unsynced data stays in memory only

    def release(self, path: str, fh: int) -> int:
        return 0

    def unlink(self, path: str) -> int:
        with self._mutex:
            _os(os.unlink, self._real(path))
            self.files.pop(path, None)
            return 0

    def rename(self, old: str, new: str) -> int:
        with self._mutex:
            _os(os.rename, self._real(old), self._real(new))
            moved = self.files.pop(old, None)
            self.files.pop(new, None)
            if moved is not None:
                self.files[new] = moved
            return 0

    def chmod(self, path: str, mode: int) -> int:
        _os(os.chmod, self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        _os(os.chown, self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:
            _os(os.utime, self._real(path))
        else:
            _os(os.utime, self._real(path), ns=times)
        return 0

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise _fuse_error(errno.EACCES)
        return 0

    # ---- directories ----

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *_os(os.listdir, self._real(path))]

    def mkdir(self, path: str, mode: int) -> int:
        _os(os.mkdir, self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        _os(os.rmdir, self._real(path))
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        return 0  # names are durable at once (see the module's docstring)

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self.backing)
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree")
        return {key: getattr(st, key) for key in (*keys, "f_files", "f_frsize", "f_namemax")}


_STAT_KEYS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
_TIME_KEYS = ("st_atime", "st_mtime", "st_ctime")  # in ns: see `use_ns`


def _fuse_error(code: int) -> OSError:
    from mfusepy import FuseOSError  # loads libfuse: only in the serving process

    return FuseOSError(code)


def _os(call: Any, *args: Any, **kwargs: Any) -> Any:
    """An os call whose OSError reaches the kernel as its errno."""
    try:
        return call(*args, **kwargs)
    except OSError as exc:
        raise _fuse_error(exc.errno or errno.EIO) from exc


def _stat(real: str) -> os.stat_result:
    return _os(os.lstat, real)


def serve(backing: str, mountpoint: str) -> None:
    """Mount `backing` at `mountpoint` and serve until unmounted or killed, taking
    `hold` and `release` lines on stdin (answered `HOLDING`, `RELEASED`) and saying
    `HELD PATH` on stdout when an fsync of PATH is being held."""
    import mfusepy  # loads libfuse at import: only here

    said = threading.Lock()

    def say(line: str) -> None:
        with said:
            print(line, flush=True)

    class Served(LazyOperations, mfusepy.Operations):
        def init(self, path: str) -> None:
            threading.Thread(target=self._commands, name="commands", daemon=True).start()
            say("READY")  # the kernel has the mount now

        def _commands(self) -> None:
            for line in sys.stdin:
                if line.strip() == "hold":
                    self.hold_syncs()
                    say("HOLDING")
                elif line.strip() == "release":
                    self.release_syncs()
                    say("RELEASED")
            # The test that started us is gone: leave no mount behind it.
            subprocess.run(["fusermount3", "-u", "-z", mountpoint], check=False)
            os._exit(0)

    ops = Served(backing, on_held_sync=lambda path: say(f"HELD {path}"))
    mfusepy.FUSE(ops, mountpoint, foreground=True, fsname="lazy_disk")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m hal_sim.lazy_disk BACKING MOUNTPOINT", file=sys.stderr)
        return 2
    serve(args[0], args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
