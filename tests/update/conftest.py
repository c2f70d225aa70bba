"""Fixtures for updates: release bundles built here for this machine (`--target native`),
once per session, and a staging root where a real kiosk runs from `current`.

Two bundles are built side by side from copies of this checkout: 0.1.1 (the kiosk as it
is) and 0.1.2, whose kiosk dies as it starts (a release that never comes up). Building
takes about 10 s on an idle machine (pip's cache holds the wheels)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from updater.layout import Layout
from updater.release import Bundle, _copy_tree, build_release
from updater.trust import trust_dir

REPO = Path(__file__).resolve().parents[2]
GOOD, BROKEN = "0.1.1", "0.1.2"


def _source(tmp: Path, version: str, *, broken: bool = False) -> Path:
    tree = _copy_tree(REPO, tmp / f"src-{version}")
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1)
    )
    if broken:
        (tree / "kiosk_tools/__main__.py").write_text(
            'import sys\nsys.exit("this release is broken: it dies as it starts")\n'
        )
    return tree


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bundle]:
    tmp = tmp_path_factory.mktemp("bundles")
    jobs = {GOOD: False, BROKEN: True}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            v: pool.submit(
                build_release,
                tmp / f"kiosk-{v}.tar.gz",
                source=_source(tmp, v, broken=b),
                target="native",
            )
            for v, b in jobs.items()
        }
        return {v: f.result() for v, f in futures.items()}


@dataclass
class StagedKiosk:
    """What systemd does for the unit, for a staging root: `restart()` stops the kiosk
    running from `current` (if any) and starts it again with `current/bin/kiosk-launch`,
    whichever release that now is. The kiosk runs simulated hardware, headless, against a real
    broker, with the unit's STATE_DIRECTORY, so it writes the health file itself."""

    layout: Layout
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: list[str] = field(default_factory=list)

    def restart(self) -> None:
        self.stop()
        release = os.readlink(self.layout.current)
        self.starts.append(Path(release).name)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "NOTIFY_SOCKET", "INVOCATION_ID"))
        }
        env.update(
            STATE_DIRECTORY=str(self.layout.data),
            ALLIANCE_KIOSK_ROOT=str(self.layout.root),
            KIVY_NO_ARGS="1",
            KIVY_HOME=str(self.layout.data / "kivy"),
            KIOSK_DRI_BY_PATH=str(self.layout.data / "no-dri"),  # no display card here
        )
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.layout.current / "bin/kiosk-launch"), "--sim", "--headless",
                 "--config", str(self.config), "--journal", str(self.layout.data / "journal.sqlite3")],
                cwd=self.layout.data, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def wait_for(self, text: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise AssertionError(
            f"no {text!r} in the kiosk's log within {timeout} s:\n{self.log.read_text()[-3000:]}"
        )


@pytest.fixture(scope="module")
def staged_kiosk_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[StagedKiosk]]:
    made: list[StagedKiosk] = []
    yield made
    for kiosk in made:
        kiosk.stop()


def write_trust(root: Path, hub_pub: Path, kiosk: str) -> Path:
    """The trust directory as install-pi.sh writes it (root's: the tests run as root)."""
    folder = trust_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "updater.toml").write_text(f'kiosk_id = "{kiosk}"\nrelease_dir = "/opt/alliance-kiosk"\n')
    (folder / "hub-signing.pub").write_bytes(hub_pub.read_bytes())
    for path in (folder, folder.parent, folder / "updater.toml", folder / "hub-signing.pub"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def install_pi(root: Path, *extra: str) -> None:
    """Lay out an install with scripts/install-pi.sh --root, as CI tests it (release
    0.1.0, the checkout's, with `current` and `last-healthy` on it; no venv)."""
    out = subprocess.run(
        ["bash", str(REPO / "scripts/install-pi.sh"), "--root", str(root), *extra],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def make_staged_kiosk(root: Path, config_text: str, made: list[StagedKiosk]) -> StagedKiosk:
    layout = Layout(root)
    layout.data.mkdir(parents=True, exist_ok=True)
    config = root / "etc/alliance-kiosk/kiosk.toml"
    config.parent.mkdir(parents=True)
    config.write_text(config_text)
    kiosk = StagedKiosk(layout, config, layout.data / "kiosk.log")
    made.append(kiosk)
    return kiosk
