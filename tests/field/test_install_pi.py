"""`scripts/install-pi.sh --root DIR` lays out a Pi install in a staging root, as CI
tests it: the tree, modes, the unit (checked by systemd-analyze),
SPI switched on, and a second run that changes nothing and keeps an edited config."""

from __future__ import annotations

import configparser
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # seconds each: run first under xdist (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.1.0"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A still copy of the checkout (what git lists, tracked or new), so files edited
    while the tests run cannot look like an install that changes things."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    copy = tmp_path_factory.mktemp("checkout")
    for rel in listed:
        source = ROOT / rel
        if source.is_file() and not rel.startswith("tests/"):
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / rel)
    return copy


def _install(root: Path, *extra: str, source: Path = ROOT) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        ["bash", str(source / "scripts" / "install-pi.sh"), "--root", str(root), "--model", PI5, *extra],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | str]]:
    tree: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            tree[key] = (0, str(path.readlink()))
        elif path.is_file():
            tree[key] = (_mode(path), path.read_bytes())
        else:
            tree[key] = (_mode(path), "dir")
    return tree


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "config.txt").write_text("[all]\n#dtparam=spi=on\ndtoverlay=vc4-kms-v3d\n")
    return root


def test_the_staging_root_holds_the_whole_install(staged: Path) -> None:
    out = _install(staged)
    release = staged / "opt/alliance-kiosk/releases" / VERSION
    assert (staged / "opt/alliance-kiosk/current").readlink() == Path("releases") / VERSION
    assert (release / "src/kiosk_tools/__main__.py").is_file()  # the kiosk's command
    assert (release / "src/updater/__main__.py").is_file()  # the root updater, a package of its own
    assert "-P -m updater" in (release / "bin/kiosk-update").read_text()
    assert (release / "src/pyproject.toml").is_file()
    assert not (release / "src/tests").exists()
    assert _mode(release / "bin/kiosk-launch") == 0o755
    assert '-m kiosk_tools "$@"' in (release / "bin/kiosk-launch").read_text()
    assert (release / "venv").is_dir() and not (release / "venv/bin").exists()  # --root builds none
    assert (release / "constraints.txt").read_text() == "kivy<3\n"
    assert _mode(staged / "var/lib/alliance-kiosk") == 0o750
    config = staged / "etc/alliance-kiosk/kiosk.toml"
    assert _mode(config) == 0o640  # root's, readable by the service's group (chown below)
    assert 'path = "/var/lib/alliance-kiosk/journal.sqlite3"' in config.read_text()
    assert "would run: chown root:alliance-kiosk /etc/alliance-kiosk/kiosk.toml" in out.stdout
    for path in (
        "etc/systemd/system/alliance-kiosk.service",
        "etc/udev/rules.d/90-alliance-kiosk.rules",
        "etc/systemd/system.conf.d/alliance-watchdog.conf",
        "etc/systemd/journald.conf.d/alliance-kiosk.conf",
        "usr/lib/sysusers.d/alliance-kiosk.conf",
    ):
        assert _mode(staged / path) == 0o644, path
    watchdog = (staged / "etc/systemd/system.conf.d/alliance-watchdog.conf").read_text()
    assert "RuntimeWatchdogSec=14" in watchdog
    sysusers = (staged / "usr/lib/sysusers.d/alliance-kiosk.conf").read_text()
    for group in ("gpio", "spi", "dialout", "video", "render", "input", "lp", "audio"):
        assert f"m alliance-kiosk {group}\n" in sysusers
    boot = (staged / "boot/firmware/config.txt").read_text()
    assert "\ndtparam=spi=on\n" in boot and "#dtparam=spi=on" not in boot
    assert "REBOOT NEEDED" in out.stdout
    # Nothing ran on this machine.
    assert "would run: systemd-sysusers" in out.stdout and "would run: systemctl enable" in out.stdout


def test_the_installed_release_is_one_the_updater_can_go_back_to(staged: Path) -> None:
    """A whole slot (installed mark), `current` and `last-healthy` on it, so an update
    that never comes up has somewhere to go (test_rollback_to_installed.py runs that)."""
    from updater.layout import Layout
    from updater.switch import rollback_target

    _install(staged)
    layout = Layout(staged)
    assert layout.current_version() == VERSION and layout.last_healthy_version() == VERSION
    assert layout.complete(VERSION)
    manifest = json.loads((layout.releases / VERSION / "manifest.json").read_text())
    assert (manifest["name"], manifest["version"]) == ("alliance-kiosk", VERSION)
    assert rollback_target(layout, "0.2.0", VERSION) == VERSION


def test_the_trust_directory_is_roots_and_holds_what_the_updater_needs(
    staged: Path, tmp_path: Path
) -> None:
    from contract import signing
    from updater.trust import load_trust, trust_dir

    _private, public = signing.generate_key_pem()
    (tmp_path / "hub.pub").write_bytes(public)
    out = _install(staged, "--kiosk-id", "xicheng-3", "--hub-public-key", str(tmp_path / "hub.pub"))
    folder = trust_dir(staged)
    assert _mode(folder) == 0o755
    assert _mode(folder / "updater.toml") == 0o644 and _mode(folder / "hub-signing.pub") == 0o644
    assert (folder / "hub-signing.pub").read_bytes() == public
    assert "would run: chown -R root:root /etc/alliance-kiosk/trust" in out.stdout
    assert "would run: chown root:alliance-kiosk /etc/alliance-kiosk\n" in out.stdout
    trust = load_trust(folder, root=staged)  # as the updater reads it (root's: tests run as root)
    assert trust.kiosk_id == "xicheng-3" and trust.release_dir == "/opt/alliance-kiosk"
    config = (staged / "etc/alliance-kiosk/kiosk.toml").read_text()
    assert 'hub_public_key = "/etc/alliance-kiosk/trust/hub-signing.pub"' in config


def test_without_a_hub_key_the_install_says_hub_ordered_updates_are_refused(staged: Path) -> None:
    out = _install(staged)
    assert "hub-ordered updates are refused until you run install-pi.sh --hub-public-key FILE" in out.stdout
    assert 'kiosk_id = "kiosk-1"' in (staged / "etc/alliance-kiosk/trust/updater.toml").read_text()


def test_an_older_install_gets_its_config_back_from_the_service_user(staged: Path) -> None:
    """Before the trust directory, kiosk.toml was the service user's (0600): a reinstall
    keeps its contents, makes it root's 0640, and the trust file takes its kiosk id."""
    config = staged / "etc/alliance-kiosk/kiosk.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[kiosk]\nid = "dongcheng-2"\nlibrary_id = "capital"\n')
    config.chmod(0o600)
    out = _install(staged)
    assert "keeping /etc/alliance-kiosk/kiosk.toml" in out.stdout
    assert _mode(config) == 0o640 and 'id = "dongcheng-2"' in config.read_text()
    assert "would run: chown root:alliance-kiosk /etc/alliance-kiosk/kiosk.toml" in out.stdout
    assert 'kiosk_id = "dongcheng-2"' in (staged / "etc/alliance-kiosk/trust/updater.toml").read_text()


def test_the_config_is_written_with_the_kiosk_id_and_is_valid(staged: Path) -> None:
    from firmware.config import load_config

    _install(staged, "--kiosk-id", "xicheng-3", "--broker", "mqtts://hub.example:8883")
    config = load_config(staged / "etc/alliance-kiosk/kiosk.toml")
    assert config.kiosk.id == "xicheng-3"
    assert config.hub.broker == "mqtts://hub.example:8883"
    assert config.devices.scanner.port == "/dev/alliance-scanner0"
    assert str(config.journal.path) == "/var/lib/alliance-kiosk/journal.sqlite3"


def test_a_second_run_changes_nothing_and_keeps_an_edited_config(staged: Path, checkout: Path) -> None:
    _install(staged, source=checkout)
    config = staged / "etc/alliance-kiosk/kiosk.toml"
    config.write_text(config.read_text().replace('library_id = "capital"', 'library_id = "xicheng"'))
    before = _snapshot(staged)
    out = _install(staged, source=checkout)
    assert "nothing changed" in out.stdout, out.stdout
    assert "REBOOT NEEDED" not in out.stdout
    assert _snapshot(staged) == before
    assert 'library_id = "xicheng"' in config.read_text()


def test_the_unit_asks_for_what_a_kiosk_needs(staged: Path) -> None:
    _install(staged)
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    text = (staged / "etc/systemd/system/alliance-kiosk.service").read_text()
    unit.read_string(text)
    service, section = unit["Service"], unit["Unit"]
    assert service["Type"] == "notify" and service["Restart"] == "always"
    assert int(service["WatchdogSec"]) >= 2 * 10  # twice the heartbeat staleness bound
    assert section["StartLimitAction"] == "reboot" and section["StartLimitBurst"]
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/alliance-kiosk"
    assert service["NoNewPrivileges"] == "true" and service["PrivateTmp"] == "true"
    assert service["User"] == "alliance-kiosk"
    assert service["SupplementaryGroups"].split() == ["gpio", "spi", "dialout", "video", "render", "input", "lp", "audio"]
    env = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("Environment=")]
    for wanted in ("KIVY_WINDOW=sdl2", "SDL_VIDEODRIVER=kmsdrm", "KIVY_GL_BACKEND=sdl2",
                   "KIOSK_TOUCH_INPUT=mtdev,/dev/alliance-touch"):
        assert wanted in env
    assert service["ExecStart"].endswith("--fullscreen")
    # The boot check, as root, from the last healthy release, before every start.
    assert service["ExecStartPre"] == "-+/opt/alliance-kiosk/last-healthy/bin/kiosk-update --recover"
    updater = configparser.ConfigParser(strict=False, interpolation=None)
    updater.read_string((staged / "etc/systemd/system/alliance-kiosk-update.service").read_text())
    assert updater["Service"]["ExecStart"] == "/opt/alliance-kiosk/last-healthy/bin/kiosk-update"
    assert "--recover" in updater["Service"]["ExecStopPost"]
    assert service["StandardError"] == "journal"


@pytest.mark.parametrize(
    "unit", ["alliance-kiosk.service", "alliance-kiosk-update.service", "alliance-kiosk-update.path"]
)
def test_systemd_analyze_verifies_the_units(staged: Path, tmp_path: Path, unit: str) -> None:
    """Each unit as installed, with /opt pointed into the staging root (verify checks
    that ExecStart exists and is executable). `make setup` installs systemd's tools."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: `make setup` installs the systemd package")
    _install(staged)
    folder = tmp_path / "verify"
    folder.mkdir()
    for name in ("alliance-kiosk.service", "alliance-kiosk-update.service", "alliance-kiosk-update.path"):
        text = (staged / "etc/systemd/system" / name).read_text()
        (folder / name).write_text(text.replace("/opt/alliance-kiosk/", f"{staged}/opt/alliance-kiosk/"))
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(folder / unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    problems = [line for line in out.stderr.splitlines() if "alliance-kiosk" in line]
    assert out.returncode == 0 and problems == [], out.stderr


def test_the_launcher_picks_the_display_card_by_path(tmp_path: Path) -> None:
    """Pi 5 with a DSI panel: the DSI card, not v3d, whatever the card numbers are."""
    dri = tmp_path / "by-path"
    dri.mkdir()
    for name, card in (("platform-1002000000.v3d-card", "card0"),
                       ("platform-1f00130000.dsi-card", "card2"),
                       ("platform-axi:gpu-card", "card1")):
        (tmp_path / card).touch()
        (dri / name).symlink_to(f"../{card}")
    env = {"PATH": "/usr/bin:/bin", "KIOSK_DRI_BY_PATH": str(dri), "KIOSK_LAUNCH_DRY_RUN": "1"}
    launch = ROOT / "deploy" / "kiosk-launch"
    out = subprocess.run(["sh", str(launch)], env=env, capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "SDL_KMSDRM_DEVICE_INDEX=2", out.stderr
    (dri / "platform-1f00130000.dsi-card").unlink()  # HDMI only: vc4
    out = subprocess.run(["sh", str(launch)], env=env, capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "SDL_KMSDRM_DEVICE_INDEX=1", out.stderr
