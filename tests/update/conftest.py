"""Fixtures for updates: release bundles built here for this machine (`--target native`),
once per session, and a staging root where a real kiosk runs from `current`.

Two bundles are built side by side from copies of this checkout: 0.1.1 (the kiosk as it
is) and 0.1.2, whose kiosk dies as it starts (a release that never comes up). Building
takes about 10 s on an idle machine (pip's cache holds the wheels)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import time
import venv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub.lab.lab import Lab
from kiosk_tools.kiosk_child import KioskChild
from updater.layout import Layout
from updater.release import Bundle, _copy_tree, build_release
from updater.trust import trust_dir

REPO = Path(__file__).resolve().parents[2]
GOOD, BROKEN = "0.1.1", "0.1.2"
# The module deploy/kiosk-launch runs as the kiosk: the one place the update tests name
# it, for the release that breaks it (the kiosk they start goes through the launcher).
KIOSK_MODULE = "kiosk_tools"


def _source(tmp: Path, version: str, *, broken: bool = False) -> Path:
    tree = _copy_tree(REPO, tmp / f"src-{version}")
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1)
    )
    if broken:
        (tree / KIOSK_MODULE.replace(".", "/") / "__main__.py").write_text(
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


def kiosk_command(release: Path, *args: str) -> list[str]:
    """The kiosk's command line in `release`, as alliance-kiosk.service runs it (its
    `bin/kiosk-launch` runs `python -m KIOSK_MODULE` from the release's venv)."""
    return [str(release / "bin/kiosk-launch"), *args]


@dataclass
class StagedKiosk:
    """What systemd does for the unit, for a staging root: `restart()` stops the kiosk
    running from `current` (if any) and starts it again with `current/bin/kiosk-launch`,
    whichever release that now is. The kiosk runs simulated hardware, headless, against a
    real broker, with the unit's STATE_DIRECTORY, so it writes the health file itself; the
    test plays the reader over its control channel (`step`, kiosk_tools.control)."""

    layout: Layout
    config: Path
    log: Path
    child: KioskChild | None = None
    starts: list[str] = field(default_factory=list)

    @property
    def process(self) -> subprocess.Popen[str] | None:
        return self.child.proc if self.child is not None else None

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
        argv = kiosk_command(
            self.layout.current, "--sim", "--headless", "--control-stdio",
            "--config", str(self.config), "--journal", str(self.layout.data / "journal.sqlite3"),
        )  # fmt: skip
        with self.log.open("a") as out:  # the child keeps its own copy of the descriptor
            self.child = KioskChild(argv, out, env=env, cwd=self.layout.data)
            self.child.launch()

    def stop(self) -> None:
        if self.child is None or self.child.proc is None:
            return
        proc = self.child.proc
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        self.child = None

    def step(self, line: str) -> None:
        """One reader's step at the kiosk (`drop BARCODE`, `tap CARD`, ...)."""
        assert self.child is not None and self.child.wait_ready(60), self.log.read_text()[-3000:]
        reply = self.child.call("step", line=line)
        assert reply.get("type") == "done", reply

    def wait_for(self, text: str, timeout: float, file: Path | None = None) -> None:
        """Until `text` is in the kiosk's log (or in `file`)."""
        file = file or self.log
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if file.exists() and text in file.read_text(errors="replace"):
                return
            time.sleep(0.2)
        said = file.read_text(errors="replace")[-3000:] if file.exists() else "(no file)"
        raise AssertionError(f"no {text!r} in {file.name} within {timeout} s:\n{said}")


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


def install_tls_kiosk(root: Path, lab: Lab, broker_url: str, kiosk_id: str, made: list[StagedKiosk]) -> StagedKiosk:
    """A kiosk installed as on a Pi, on the lab's TLS broker: scripts/install-pi.sh lays out
    release 0.1.0 (the checkout's) and the trust directory with the lab hub's key; the
    kiosk's own enrolment (`hub.lab.lab`) goes to /etc/alliance-kiosk where install-pi.sh's
    kiosk.toml expects it, and kiosk.toml names it. Under --root install-pi.sh builds no
    venv for the 0.1.0 slot: this one's packages stand in for it."""
    install_pi(root, "--kiosk-id", kiosk_id, "--broker", broker_url,
               "--hub-public-key", str(lab.pki.hub_signing_pub))  # fmt: skip
    layout = Layout(root)
    installed = layout.releases / layout.current_version()  # type: ignore[operator]
    # Its venv: one without pip whose only entries are the slot's source and this venv's
    # packages as plain paths (their .pth files, the checkout's editable install among
    # them, are not read), so the kiosk and the updater it starts run the slot's own code
    # and no PYTHONPATH leaks into the venv the updater builds.
    venv.EnvBuilder(symlinks=True).create(installed / "venv")
    site = next((installed / "venv/lib").glob("python3*/site-packages"))
    (site / "release.pth").write_text(f"{installed / 'src'}\n{sysconfig.get_paths()['purelib']}\n")
    bundle = lab.kiosk(kiosk_id, "capital")
    etc = root / "etc/alliance-kiosk"
    tls = {"ca": etc / "ca.pem", "cert": etc / "kiosk.pem", "key": etc / "kiosk.key"}
    for key, source in (("ca", bundle.ca), ("cert", bundle.cert), ("key", bundle.key)):
        shutil.copyfile(source, tls[key])
        tls[key].chmod(0o600 if key == "key" else 0o644)
    config = etc / "kiosk.toml"
    config.write_text(
        f'[kiosk]\nid = "{kiosk_id}"\nlibrary_id = "capital"\n\n'
        f'[hub]\nbroker = "{broker_url}"\nhub_public_key = "{trust_dir(root) / "hub-signing.pub"}"\n'
        "telemetry_interval_s = 1\n\n[hub.tls]\n" + "".join(f'{k} = "{v}"\n' for k, v in tls.items())
    )
    layout.data.mkdir(parents=True, exist_ok=True)
    kiosk = StagedKiosk(layout, config, layout.data / "kiosk.log")
    made.append(kiosk)
    return kiosk
