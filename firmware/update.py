"""`python -m firmware update --bundle FILE|URL --sha256 HEX [--root DIR]`: install a
release bundle (firmware.release) into a new slot, switch to it, and roll back by
itself if the new slot does not come up healthy. `--order FILE`: the same for an update
the hub signed (the kiosk leaves the order); `--recover`: the boot check.

The installed layout (scripts/install-pi.sh, docs/pi.md) under ROOT (`/`, or a staging
root with `--root`):
    opt/alliance-kiosk/releases/<version>/{bin,venv,manifest.json}   one slot per release
    opt/alliance-kiosk/current -> releases/<version>                 what systemd runs
    opt/alliance-kiosk/last-healthy -> releases/<version>            the release to go back to
    opt/alliance-kiosk/update-pending.json    written here between a switch and its verdict
    etc/alliance-kiosk/trust/                 root's: what an order is checked against
                                              (firmware.update_trust)
    var/lib/alliance-kiosk/health.json        written by the running kiosk (firmware.health)
    var/lib/alliance-kiosk/last-update.json   written here: the last update's result

The steps, each of which stops the update before the next:
1. the bundle (a file, or fetched from an http(s)/file URL) must have the sha256 the
   operator (or the hub's signed command) gave, then every member must be listed in its
   manifest with that size and sha256, be a plain file under a plain name: all checked
   from the tar stream, before anything is written to the slot;
2. the slot `releases/<version>` is refused if it is the running one; any other slot of
   that version (a half-installed one from an earlier attempt) is removed first;
3. the slot gets its own venv and `pip install --no-index --find-links` of the bundle's
   wheels, with pip's configuration ignored (no index, no mirror, no network);
4. `current` is switched atomically (a new symlink renamed over it) and the service
   restarted (`systemctl restart alliance-kiosk.service`; under `--root` the command is
   printed, not run);
5. the new slot must report, within the deadline, its version with `ready`,
   `link_online` and `selftest_ok` (the kiosk's health file, or any `HealthProbe`);
   then, and only then, `last-healthy` is pointed at it (atomically, fsync'd).
   Otherwise `current` goes back to the last healthy slot (or, in a layout without the
   marker, the previous one), the service is restarted again, and the result says
   `rolled_back` with the reason.

If the updater dies between the switch and the verdict, `current` points at a release
nobody judged: `recover` (`--recover`, which alliance-kiosk.service runs before every
start of the kiosk, so at every boot) points it back at `last-healthy` and records
`rolled_back`. It does nothing while an updater holds the lock.

What a caller may rely on: `current` is only ever a complete slot (the old one, or the
new one after its venv installed), and `last-healthy` only ever one that was judged
healthy (or the one scripts/install-pi.sh installed); every run ends in one result
written to `last-update.json` (ok, rolled_back, refused or failed, with a reason a
technician can read); two updaters never run at once (a lock file). After a success the
slots other than the current and the previous one are removed. An order is checked only
against the trust directory (firmware.update_trust), never against a file the kiosk's
user can write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from firmware.release import BUNDLE_FORMAT, PROJECT, file_sha256
from firmware.update_trust import TRUST_DIR, Trust, TrustError, load_trust, trust_dir

log = logging.getLogger(__name__)

SERVICE = "alliance-kiosk.service"
DEFAULT_DEADLINE_S = 180.0
MAX_BUNDLE_BYTES = 2 * 1024**3
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
INSTALLED_MARK = "manifest.json"  # written into the slot last: a slot without it is half-installed
KEEP_SLOTS = 2  # the current one and the one to go back to
LAST_HEALTHY = "last-healthy"  # a symlink beside `current`, moved only after a healthy verdict
PENDING = "update-pending.json"  # there from the switch until the verdict is recorded

Outcome = Literal["ok", "rolled_back", "refused", "failed"]
Progress = Callable[[str], None]


class UpdateRefused(Exception):
    """The bundle or the request was refused before anything was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Layout:
    """Where an install lives, under `root` (`/` on the Pi)."""

    root: Path = Path("/")
    release_dir: str = "/opt/alliance-kiosk"  # as on the kiosk; the trust file may name another

    @property
    def base(self) -> Path:
        return self.root / self.release_dir.lstrip("/")

    @property
    def releases(self) -> Path:
        return self.base / "releases"

    @property
    def current(self) -> Path:
        return self.base / "current"

    @property
    def last_healthy(self) -> Path:
        return self.base / LAST_HEALTHY

    @property
    def pending_file(self) -> Path:
        return self.base / PENDING

    @property
    def data(self) -> Path:
        return self.root / "var/lib/alliance-kiosk"

    @property
    def health_file(self) -> Path:
        return self.data / "health.json"

    @property
    def result_file(self) -> Path:
        return self.data / "last-update.json"

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


@dataclass(frozen=True)
class Health:
    """What a running kiosk says of itself (firmware.health writes it)."""

    version: str
    ready: bool
    link_online: bool
    selftest_ok: bool | None  # None: not run yet
    at: datetime
    failed: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Health:
        return cls(
            version=str(data["version"]),
            ready=bool(data.get("ready")),
            link_online=bool(data.get("link_online")),
            selftest_ok=data.get("selftest_ok"),
            at=datetime.fromisoformat(data["at"]),
            failed=tuple(str(f) for f in data.get("selftest_failed", ()))[:10],
        )

    def verdict(self) -> str:
        """ "healthy", or what is missing."""
        missing = [
            name
            for name, good in (("ready", self.ready), ("link online", self.link_online))
            if not good
        ]
        if self.selftest_ok is None:
            missing.append("self-test not run yet")
        elif not self.selftest_ok:
            missing.append(
                "self-test failed" + (f" ({', '.join(self.failed)})" if self.failed else "")
            )
        return "healthy" if not missing else "not " + ", ".join(missing)


HealthProbe = Callable[[], Health | None]


def health_file_probe(path: Path) -> HealthProbe:
    """Reads the kiosk's health file; None while it is absent or unreadable (or not a
    small plain file: the kiosk's user writes that directory, and this runs as root)."""

    def probe() -> Health | None:
        try:
            return Health.from_json(json.loads(read_plain_file(path, 64 * 1024)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    return probe


def read_plain_file(path: Path, limit: int) -> bytes:
    """Up to `limit` bytes of `path` if it is a plain file; a link is not followed, and
    a FIFO or device is not read (OSError): for files in the kiosk's own directory."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a plain file")
        return os.read(fd, limit)
    finally:
        os.close(fd)


@dataclass
class UpdateResult:
    """The last update's outcome, kept in `last-update.json` and reported to the hub."""

    version: str | None
    result: Outcome
    reason: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    previous: str | None = None
    cmd_id: str | None = None
    took_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def systemctl_restart(layout: Layout, say: Progress) -> Callable[[], None]:
    """Restart the kiosk's unit; under a staging root only say what would run."""
    command = ["systemctl", "restart", SERVICE]

    def restart() -> None:
        if layout.root != Path("/"):
            say(f"(staging) would run: {shlex.join(command)}")
            return
        subprocess.run(command, check=True, timeout=120)

    return restart


def update(
    bundle: str,
    sha256: str,
    *,
    layout: Layout = Layout(),
    probe: HealthProbe | None = None,
    restart: Callable[[], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    poll_s: float = 1.0,
    python: str | None = None,
    cmd_id: str | None = None,
    progress: Progress | None = None,
) -> UpdateResult:
    """Install `bundle` (a path or URL) if it has `sha256`, switch to it, and keep it
    only if it comes up healthy within `deadline_s`. Never raises for a bad bundle or a
    failed step: the result says what happened (and is written to the data dir)."""
    say = progress or (lambda line: log.info("%s", line))
    probe = probe or health_file_probe(layout.health_file)
    restart = restart or systemctl_restart(layout, say)
    started = time.monotonic()
    layout.base.mkdir(parents=True, exist_ok=True)
    with _exclusive(layout.base / ".update.lock") as got_lock:
        if not got_lock:  # the other one's result stands: nothing is recorded
            say("another update is running")
            return UpdateResult(None, "refused", "busy: another update is running")
        try:
            result = _update(bundle, sha256.strip().lower(), layout, probe, restart, deadline_s,
                             poll_s, python, cmd_id, say)  # fmt: skip
        except UpdateRefused as exc:
            result = UpdateResult(None, "refused", str(exc), previous=layout.current_version())
        result.cmd_id = cmd_id
        result.took_s = round(time.monotonic() - started, 1)
        record_result(layout, result)
        layout.pending_file.unlink(missing_ok=True)  # the verdict is recorded
    say(f"result: {result.result} ({result.reason})")
    return result


def record_result(layout: Layout, result: UpdateResult) -> None:
    layout.data.mkdir(parents=True, exist_ok=True)
    _write_atomic(layout.result_file, json.dumps(result.as_json(), indent=2) + "\n", 0o644)


def read_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---- the steps ---------------------------------------------------------------------------


def _update(
    bundle: str, sha256: str, layout: Layout, probe: HealthProbe, restart: Callable[[], None],
    deadline_s: float, poll_s: float, python: str | None, cmd_id: str | None, say: Progress,
) -> UpdateResult:  # fmt: skip
    if not SHA256_RE.match(sha256):
        raise UpdateRefused("bad-sha256", "--sha256 must be 64 hex digits")
    with tempfile.TemporaryDirectory(prefix=".incoming-", dir=layout.base) as incoming:
        path = _fetch(bundle, Path(incoming), say)
        say(f"checking the bundle's sha256 ({path.stat().st_size // 1_000_000} MB)")
        got = file_sha256(path)
        if got != sha256:
            raise UpdateRefused(
                "sha256-mismatch", f"the bundle's sha256 is {got}, not the {sha256} given"
            )
        manifest = _verified_manifest(path, say)
        version = manifest["version"]
        previous = layout.current_version()
        slot = layout.releases / version
        if previous == version:
            raise UpdateRefused("already-running", f"{version} is the running release")
        if slot.exists() or slot.is_symlink():
            say(f"removing an earlier, unused slot {slot.name}")
            _remove(slot)
        try:
            _install(path, manifest, slot, python, say)
        except Exception as exc:  # current is untouched: the new slot goes
            _remove(slot)
            return UpdateResult(version, "failed", f"install failed: {exc}", previous=previous)
    back_to = rollback_target(layout, version, previous)
    say(f"switching current: {previous or '(none)'} -> {version}")
    switched_at = datetime.now(UTC)
    _write_atomic(layout.pending_file, json.dumps({
        "version": version, "previous": previous, "back_to": back_to, "cmd_id": cmd_id,
        "since": switched_at.isoformat(timespec="seconds"),
    }) + "\n", 0o644)  # fmt: skip
    _switch(layout, version)
    try:
        restart()
        health = _wait_healthy(probe, version, switched_at, deadline_s, poll_s, say)
        verdict = "no health report from it" if health is None else health.verdict()
    except Exception as exc:
        verdict = f"restart failed: {exc}"
    if verdict == "healthy":
        _point(layout, LAST_HEALTHY, version)  # only ever after a healthy verdict
        _prune(layout, keep=(version, previous))
        return UpdateResult(version, "ok", f"healthy within {deadline_s:.0f} s", previous=previous)
    reason = f"{version} {verdict} within {deadline_s:.0f} s"
    if back_to is None:
        return UpdateResult(
            version, "failed", f"{reason}; no healthy release to go back to", previous=previous
        )
    say(f"rolling back to {back_to}: {reason}")
    _switch(layout, back_to)
    try:
        restart()
    except Exception as exc:
        reason += f"; restart after the rollback failed: {exc}"
    return UpdateResult(version, "rolled_back", reason, previous=previous)


def rollback_target(layout: Layout, version: str, previous: str | None) -> str | None:
    """Where an update to `version` goes back to: the last release judged healthy, else
    (a layout from before the marker) the one running before; None without a whole slot."""
    for candidate in (layout.last_healthy_version(), previous):
        if candidate != version and layout.complete(candidate):
            return candidate
    return None


def recover(layout: Layout, *, restart: Callable[[], None] | None = None,
            progress: Progress | None = None) -> UpdateResult | None:  # fmt: skip
    """The boot check: if `current` is not the last healthy release and no updater is
    running (the lock is free), the switch was never judged (the updater died between
    the switch and its verdict): point `current` back at `last-healthy`, record
    `rolled_back` and, if given, `restart()` the kiosk. None when there was nothing to do."""
    say = progress or (lambda line: log.info("%s", line))
    if not layout.base.is_dir():
        say(f"nothing to recover: no {layout.base}")
        return None
    with _exclusive(layout.base / ".update.lock") as got_lock:
        if not got_lock:
            say("an update is running: its own verdict decides, nothing to recover")
            return None
        healthy, current = layout.last_healthy_version(), layout.current_version()
        pending = _read_json(layout.pending_file) or {}
        if current == healthy or not layout.complete(healthy):
            layout.pending_file.unlink(missing_ok=True)
            say(f"current is the last healthy release ({current})" if current == healthy else
                f"no whole last-healthy release to go back to (current: {current or 'none'})")  # fmt: skip
            return None
        assert healthy is not None
        say(f"current ({current or 'none'}) was never judged healthy: back to {healthy}")
        _switch(layout, healthy)
        result = UpdateResult(
            current, "rolled_back",
            f"{current or 'no release'} was switched to but never judged healthy (the updater "
            f"stopped before its verdict); back on {healthy}, the last healthy release",
            previous=healthy, cmd_id=pending.get("cmd_id") if isinstance(pending.get("cmd_id"), str) else None,
        )  # fmt: skip
        if restart is not None:
            try:
                restart()
            except Exception as exc:
                result.reason += f"; restart after the rollback failed: {exc}"
        record_result(layout, result)
        layout.pending_file.unlink(missing_ok=True)
    say(f"result: {result.result} ({result.reason})")
    return result


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _fetch(bundle: str, incoming: Path, say: Progress) -> Path:
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


def _verified_manifest(path: Path, say: Progress) -> dict[str, Any]:
    """The bundle's manifest, once every member has been read and matched against it."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            first = tar.extractfile("manifest.json") if "manifest.json" in tar.getnames() else None
            if first is None:
                raise UpdateRefused("bad-bundle", "no manifest.json")
            manifest = json.loads(first.read(1 << 20))
            files = _manifest_files(manifest)
            seen = set()
            for i, member in enumerate(members, 1):
                if member.name == "manifest.json":
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


def _manifest_files(manifest: Any) -> dict[str, dict[str, Any]]:
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
            len(parts) == 2 and parts[0] in ("wheels", "sdists", "bin")
            and re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z._+-]*", parts[1])
            and isinstance(entry.get("size"), int) and SHA256_RE.match(str(entry.get("sha256")))
        ):  # fmt: skip
            raise UpdateRefused(
                "bad-bundle", f"the manifest lists {name!r}, not a plain bundle file"
            )
        files[name] = entry
    if not any(n.startswith("wheels/") for n in files):
        raise UpdateRefused("bad-bundle", "the bundle holds no wheels")
    return files


def _stream_sha256(data: Any) -> tuple[str, int]:
    import hashlib

    h, size = hashlib.sha256(), 0
    while chunk := data.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _install(
    bundle: Path, manifest: dict[str, Any], slot: Path, python: str | None, say: Progress
) -> None:
    slot.mkdir(parents=True)
    names = {f["path"] for f in manifest["files"]}
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name in names:  # checked above: plain names of plain files
                tar.extract(member, slot, filter="data")
    for launcher in (slot / "bin").glob("*"):
        launcher.chmod(0o755)
    project = PROJECT.replace("-", "_")
    if not list((slot / "wheels").glob(f"{project}-{manifest['version']}-*.whl")):
        raise RuntimeError(f"the bundle holds no {project}-{manifest['version']} wheel")
    base_python = python or getattr(sys, "_base_executable", None) or sys.executable
    venv_python = str(slot / "venv/bin/python")
    # pip runs from the bundle's own pip wheel (pip supports `python pip.whl/pip`): the
    # venv needs no ensurepip (the slowest step on an SD card) and the slot no pip.
    pip_wheels = sorted((slot / "wheels").glob("pip-*.whl"))
    say(f"creating the venv ({base_python})")
    _run([base_python, "-m", "venv", *(["--without-pip"] if pip_wheels else []), str(slot / "venv")],
         "create the venv")  # fmt: skip
    pip = [venv_python, f"{pip_wheels[-1]}/pip"] if pip_wheels else [venv_python, "-m", "pip"]
    say(f"installing {manifest['requirement']} from the bundle (no index)")
    constraints = slot / "constraints.txt"
    constraints.write_text("".join(f"{c}\n" for c in manifest.get("constraints", [])))
    links = [
        a
        for d in ("wheels", "sdists")
        if (slot / d).is_dir()
        for a in ("--find-links", str(slot / d))
    ]
    _run(
        [*pip, "install", "--no-index", *links, "-q", "--disable-pip-version-check",
         "-c", str(constraints), manifest["requirement"]],
        "install the wheels",
    )  # fmt: skip
    _run(
        [str(slot / "venv/bin/python"), "-I", "-c", "import firmware.update, contract.messages"],
        "import the release",
    )
    for d in ("wheels", "sdists"):
        shutil.rmtree(slot / d, ignore_errors=True)  # installed: the SD card need not keep them
    _write_atomic(slot / INSTALLED_MARK, json.dumps(manifest, indent=2) + "\n", 0o644)


def _run(cmd: list[str], step: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no configured index, mirror or find-links
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise RuntimeError(f"could not {step}: {tail}")


def _switch(layout: Layout, version: str) -> None:
    _point(layout, layout.current.name, version)


def _point(layout: Layout, name: str, version: str) -> None:
    """`name` -> releases/<version>, atomically (a new link renamed over it) and durably
    (the directory fsync'd): after a power cut it is the old link or the new one."""
    new = layout.base / f".{name}.new"
    with contextlib.suppress(FileNotFoundError):
        new.unlink()
    new.symlink_to(f"releases/{version}")
    os.replace(new, layout.base / name)
    fd = os.open(layout.base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wait_healthy(
    probe: HealthProbe,
    version: str,
    since: datetime,
    deadline_s: float,
    poll_s: float,
    say: Progress,
) -> Health | None:
    """The new slot's latest report (healthy, or the last seen when the time is up)."""
    until = time.monotonic() + deadline_s
    say(f"waiting up to {deadline_s:.0f} s for {version}: ready, link online, self-test passed")
    latest: Health | None = None
    last_said = ""
    while True:
        health = probe()
        if (
            health is not None
            and health.version == version
            and health.at >= since.replace(microsecond=0)
        ):
            latest = health
            verdict = health.verdict()
            if verdict == "healthy":
                return health
            if verdict != last_said:
                say(f"{version}: {verdict}")
                last_said = verdict
        if time.monotonic() >= until:
            return latest
        time.sleep(poll_s)


def _prune(layout: Layout, keep: tuple[str | None, ...]) -> None:
    keep = (*keep, layout.last_healthy_version())
    for slot in layout.releases.iterdir():
        if slot.name not in keep:
            _remove(slot)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _write_atomic(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)  # not by name: the kiosk's user may swap names in its dir
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Holds the lock while the block runs; yields False if another process has it."""
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


# ---- an order left by the kiosk (firmware.update_order) ------------------------------------


def take_order(path: Path) -> dict[str, Any] | None:
    """Read and remove the kiosk's update order (so a path unit does not start us twice).
    The kiosk's user writes that directory: a link or anything but a small plain file
    is not followed, only removed."""
    taken = path.with_name(path.name + ".taken")
    try:
        os.replace(path, taken)
    except FileNotFoundError:
        return None
    try:
        order = json.loads(read_plain_file(taken, 1 << 20))
    except (OSError, ValueError):
        order = None
    taken.unlink(missing_ok=True)
    if not isinstance(order, dict) or not isinstance(order.get("bundle_url"), str):
        return None
    return order


class OrderRefused(ValueError):
    """The kiosk's order is not an update the hub signed for this kiosk."""


def verified_order(order: dict[str, Any], trust: Trust, now: float) -> tuple[str, str, str]:
    """Bundle URL, sha256 and command id from the command the hub signed, never from the
    order's plain fields: the order file is written by the unprivileged kiosk, and this
    runs as root. The hub's key and the kiosk id come from the trust directory
    (firmware.update_trust), which only root can write; never from the kiosk's config."""
    from contract import messages, signing
    from firmware.update_order import SignedCommand

    try:
        signed = SignedCommand.from_json(order.get("command"))
        command = messages.parse(messages.Command, signed.payload)
    except ValueError as exc:
        raise OrderRefused(f"the order is not a signed command: {exc}") from None
    verdict = signing.verify(
        trust.hub_key, trust.kiosk_id, "cmd", command.cmd_id, signed.payload,
        signed.user_properties, now=now,
    )  # fmt: skip
    if not verdict:
        raise OrderRefused(
            f"the order is not signed by the hub for kiosk {trust.kiosk_id}: {verdict.reason}"
        )
    if command.cmd != "update" or not command.bundle_url or not command.sha256:
        raise OrderRefused(f"the signed command is {command.cmd!r}, not an update")
    return command.bundle_url, command.sha256, command.cmd_id


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m firmware update",
        description="Install a release bundle into a new slot, switch to it, roll back if it is not healthy.",
    )
    parser.add_argument(
        "--bundle", metavar="FILE|URL", help="the bundle (python -m firmware release)"
    )
    parser.add_argument(
        "--sha256", metavar="HEX", help="the bundle's sha256, as release printed it"
    )
    parser.add_argument(
        "--order", metavar="FILE", help="take bundle, sha256 and cmd_id from the kiosk's order file"
    )
    parser.add_argument(
        "--recover", action="store_true",
        help="the boot check: if current was switched to but never judged healthy, go back "
        "to the last healthy release (alliance-kiosk.service runs it before the kiosk)",
    )  # fmt: skip
    parser.add_argument(
        "--restart", action="store_true",
        help="with --recover: restart the kiosk after going back (when it is running)",
    )  # fmt: skip
    parser.add_argument(
        "--root", metavar="DIR", help="a staging root (nothing outside it is touched; no restart)"
    )
    parser.add_argument(
        "--trust", metavar="DIR",
        help="with --order: the root-owned trust directory, for the hub's key, the kiosk id "
        f"and the release directory (default ROOT{TRUST_DIR})",
    )  # fmt: skip
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, metavar="S",
                        help=f"how long the new release has to become healthy (default {DEFAULT_DEADLINE_S:.0f})")  # fmt: skip
    parser.add_argument(
        "--python",
        metavar="EXE",
        help="the interpreter for the new venv (default: this one's base)",
    )
    args = parser.parse_args(argv)
    cmd_id = None
    root = Path(args.root).resolve() if args.root else Path("/")
    layout = Layout(root)

    def progress(line: str) -> None:
        print(f"update: {line}", file=sys.stderr, flush=True)

    if args.recover:
        with contextlib.suppress(TrustError):  # a release directory of its own, if it names one
            layout = Layout(root, load_trust(trust_dir(root), root=root).release_dir)
        recovered = recover(layout, restart=systemctl_restart(layout, progress) if args.restart else None,
                            progress=progress)  # fmt: skip
        if recovered is not None:
            print(json.dumps(recovered.as_json()))
        return 0
    if args.order:
        order = take_order(Path(args.order))
        if order is None:
            print(f"update: no valid order at {args.order}", file=sys.stderr)
            return 1
        try:
            trust = load_trust(Path(args.trust) if args.trust else trust_dir(root), root=root)
            layout = Layout(root, trust.release_dir)
            args.bundle, args.sha256, cmd_id = verified_order(order, trust, time.time())
        except (TrustError, OrderRefused) as exc:
            print(f"update: order refused: {exc}", file=sys.stderr)
            said = order.get("cmd_id")  # unverified: only so the hub can tell which order it was
            record_result(layout, UpdateResult(None, "refused", f"order refused: {exc}"[:300],
                                               previous=layout.current_version(),
                                               cmd_id=said if isinstance(said, str) and len(said) <= 64 else None))  # fmt: skip
            return 1
    if not args.bundle or not args.sha256:
        parser.error("--bundle and --sha256 are required (or --order, or --recover)")

    result = update(args.bundle, args.sha256, layout=layout, deadline_s=args.deadline,
                    python=args.python, cmd_id=cmd_id, progress=progress)  # fmt: skip
    print(json.dumps(result.as_json()))
    return 0 if result.result == "ok" else 1
