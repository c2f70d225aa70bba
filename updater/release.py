"""`python -m kiosk_tools release --out FILE`: one self-contained update bundle, in the
format the updater checks (updater.bundle). A build-time tool, run on a developer's
machine or CI; it lives with the updater so the bundle's format has one owner.

A bundle is a gzipped tar holding:
- `manifest.json`: the format, the project name and version, the target, when it was
  built, the requirement to install (`alliance-kiosk[pi]==VERSION`), and every other
  member's path, size and sha256;
- `wheels/`: the project's wheel and every dependency's, for the target (pip installs
  from it with `--no-index`: the kiosk needs no package index);
- `sdists/`: packages published only as source (python-evdev), with the wheels that
  build them (setuptools, wheel); they are compiled on the Pi at install time (gcc,
  python3-dev and the kernel headers must be there: see docs/pi.md);
- `bin/`: the release's launcher and Kivy input helper (deploy/), as install-pi.sh puts
  them in a release directory.

Targets: `pi` (the default) is 64-bit Raspberry Pi OS Bookworm: CPython 3.11 on aarch64,
manylinux wheels; `native` is this machine's interpreter and platform (CI installs such
a bundle here). The bundle's sha256 is printed: the operator hands it to the updater.

What a caller may rely on: a failed step raises `ReleaseError` naming the step and
pip's last lines; nothing half-written is left at `--out` (the tar is written under a
temporary name and renamed).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from updater.bundle import BUNDLE_FORMAT, PROJECT, file_sha256

if TYPE_CHECKING:
    from packaging.requirements import Requirement

# 64-bit Raspberry Pi OS Bookworm: glibc 2.36, so every manylinux up to 2_36 fits.
PI_PLATFORMS = (
    *(f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)),  # pip matches tags exactly
    "manylinux2014_aarch64",
)
PI_ENVIRONMENT = {
    "implementation_name": "cpython",
    "platform_machine": "aarch64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "python_full_version": "3.11.2",
}
# Published as source only (no wheels on PyPI): built on the target from the bundle's sdists.
SOURCE_ONLY = frozenset({"evdev", "spidev"})
BUILD_WHEELS = ("setuptools>=68", "wheel")
# Kivy's master has moved to SDL3: a release pins kivy<3 (as install-pi.sh does).
CONSTRAINTS = ("kivy<3",)
EXTRAS = "pi"
LAUNCHERS = ("kiosk-launch", "kivy-input", "kiosk-update")


class ReleaseError(RuntimeError):
    """A bundle could not be built; the message names the step and what pip said."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    version: str
    target: str
    files: int
    size: int


Progress = Callable[[str], None]


def project_version(source: Path) -> str:
    with (source / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def target_requirements(source: Path, target: str) -> list[Requirement]:
    """The project's own requirements (with the `pi` extra) that apply on `target`."""
    from packaging.requirements import Requirement  # a build-time tool: not on the kiosk

    with (source / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    env = dict(PI_ENVIRONMENT) if target == "pi" else None
    wanted = []
    for line in [
        *project.get("dependencies", []),
        *project.get("optional-dependencies", {}).get(EXTRAS, []),
    ]:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            wanted.append(req)
    return wanted


def build_release(
    out: Path,
    *,
    source: Path | None = None,
    target: str = "pi",
    python: str = sys.executable,
    progress: Progress | None = None,
) -> Bundle:
    """Build the bundle for `target` from the project at `source` and write it to `out`."""
    if target not in ("pi", "native"):
        raise ReleaseError(f"unknown target {target!r} (pi or native)")
    source = (source or Path(__file__).resolve().parent.parent).resolve()
    say = progress or (lambda line: None)
    version = project_version(source)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kiosk-release-") as tmp:
        stage = Path(tmp)
        wheels, sdists = stage / "wheels", stage / "sdists"
        wheels.mkdir()
        constraints = stage / "constraints.txt"
        constraints.write_text("".join(f"{c}\n" for c in CONSTRAINTS))
        pip = [python, "-m", "pip"]
        say(f"building the {PROJECT} {version} wheel")
        tree = _copy_tree(source, stage / "src")  # builds leave build/ and egg-info behind
        _run(
            [*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(tree)],
            "build the project wheel",
        )
        requirements = target_requirements(source, target)
        binary = [str(r) for r in requirements if r.name not in SOURCE_ONLY]
        source_only = [str(r) for r in requirements if r.name in SOURCE_ONLY]
        if target == "native":
            say(
                f"building wheels for this machine ({len(requirements)} requirements, with their dependencies)"
            )
            _run([*pip, "wheel", "-q", "-c", str(constraints), "-w", str(wheels), *binary, *source_only],
                 "build the dependencies' wheels")  # fmt: skip
        else:
            say(
                f"downloading aarch64 wheels for CPython 3.11 ({len(binary)} requirements, with their dependencies)"
            )
            platform_args = [a for p in PI_PLATFORMS for a in ("--platform", p)]
            target_args = [*platform_args, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]  # fmt: skip
            _run([*pip, "download", "-q", "--only-binary=:all:", *target_args, "-c", str(constraints),
                  "-d", str(wheels), *binary], "download the dependencies' wheels")  # fmt: skip
            if source_only:
                sdists.mkdir()
                say(f"downloading source-only packages (built on the Pi): {', '.join(source_only)}")
                _run([*pip, "download", "-q", "--no-deps", "--no-binary=:all:", "-d", str(sdists), *source_only],
                     "download the source-only packages")  # fmt: skip
                _run([*pip, "download", "-q", "--only-binary=:all:", "--no-deps", "-d", str(sdists), *BUILD_WHEELS],
                     "download the build backend")  # fmt: skip
        # The updater runs pip from this wheel (`python pip.whl/pip`): no ensurepip needed.
        _run([*pip, "download", "-q", "--only-binary=:all:", "--no-deps", "-d", str(wheels), "pip"],
             "download pip")  # fmt: skip
        bin_dir = stage / "bin"
        bin_dir.mkdir()
        for name in LAUNCHERS:
            launcher = source / "deploy" / name
            if launcher.exists():
                shutil.copy2(launcher, bin_dir / name)
        shutil.rmtree(tree)
        members = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != "constraints.txt")
        files = []
        for i, member in enumerate(members, 1):
            say(f"hashing {i}/{len(members)} {member.name}")
            files.append({"path": member.relative_to(stage).as_posix(), "size": member.stat().st_size,
                          "sha256": file_sha256(member)})  # fmt: skip
        manifest = {
            "format": BUNDLE_FORMAT,
            "name": PROJECT,
            "version": version,
            "target": target,
            "python": "3.11" if target == "pi" else f"{sys.version_info[0]}.{sys.version_info[1]}",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "requirement": f"{PROJECT}[{EXTRAS}]=={version}",
            "constraints": list(CONSTRAINTS),
            "source_only": sorted(r.name for r in requirements if r.name in SOURCE_ONLY)
            if target == "pi"
            else [],
            "files": files,
        }
        out = out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        say(f"writing {out.name} ({sum(f['size'] for f in files) // 1_000_000} MB of files)")
        with tarfile.open(
            partial, "w:gz", compresslevel=1
        ) as tar:  # wheels are zips: gzip gains little
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            for member in members:
                tar.add(member, member.relative_to(stage).as_posix(), recursive=False)
        os.replace(partial, out)
    digest = file_sha256(out)
    say(f"done in {time.monotonic() - started:.0f} s")
    return Bundle(out, digest, version, target, len(files), out.stat().st_size)


def _copy_tree(source: Path, dest: Path) -> Path:
    """The project's files (git's list when it is a checkout), without tests or state."""
    done = subprocess.run(
        ["git", "-C", str(source), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode == 0:
        names = [n for n in done.stdout.splitlines() if n]
    else:
        names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    skip = re.compile(
        r"^(\.|tests/|bench/|var/|build/|test-artifacts/)|(^|/)(__pycache__|[^/]*\.egg-info)/"
    )
    for name in names:
        src = source / name
        if skip.search(name) or not src.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name)
    return dest


def _run(cmd: list[str], step: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ReleaseError(f"could not {step} (exit {done.returncode}):\n{tail}")


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m kiosk_tools release",
        description="Build a self-contained update bundle (wheels of the kiosk and its dependencies).",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="the bundle to write (.tar.gz)"
    )
    parser.add_argument("--target", choices=("pi", "native"), default="pi",
                        help="pi: Raspberry Pi OS Bookworm 64-bit (CPython 3.11, aarch64); native: this machine")  # fmt: skip
    parser.add_argument(
        "--source", metavar="DIR", help="the project to build (default: this checkout)"
    )
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(f"release: {line}", file=sys.stderr, flush=True)

    try:
        bundle = build_release(
            Path(args.out), source=Path(args.source) if args.source else None,
            target=args.target, progress=progress,
        )  # fmt: skip
    except (ReleaseError, OSError, KeyError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: {bundle.path} ({bundle.size // 1_000_000} MB, {bundle.files} files, "
          f"{PROJECT} {bundle.version}, target {bundle.target})")  # fmt: skip
    print(f"sha256: {bundle.sha256}")
    print(
        f"install: python -m updater --bundle {bundle.path.name} --sha256 {bundle.sha256}"
    )
    return 0
