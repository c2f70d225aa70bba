"""A release's slot: its files from a checked bundle, and its own venv with the bundle's
wheels installed, from the bundle alone.

What a caller may rely on: `install_slot` either leaves a whole slot, its installed
mark (the manifest) written last, or raises (RuntimeError naming the step and pip's last
lines) and the caller removes the slot. pip runs with `--no-index` and its configuration
ignored (no index, no mirror, no network), from the bundle's own pip wheel when it holds
one (the venv needs no ensurepip, the slowest step on an SD card). The new release must
import its updater and contract in isolated mode before the slot is called whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from contract.atomic_files import write_atomic
from updater.bundle import PROJECT
from updater.layout import INSTALLED_MARK
from updater.results import Progress

# What a release must import before it is installed: its own updater (the next one to
# run as root, from `last-healthy`) and the contract the kiosk and the hub share.
IMPORT_CHECK = "import updater.cli, contract.messages"


def install_slot(
    bundle: Path, manifest: dict[str, Any], slot: Path, python: str | None, say: Progress
) -> None:
    """Unpack the checked `bundle` into the new `slot` and build its venv (module doc)."""
    slot.mkdir(parents=True)
    names = {f["path"] for f in manifest["files"]}
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name in names:  # checked by updater.bundle: plain names of plain files
                tar.extract(member, slot, filter="data")
    for launcher in (slot / "bin").glob("*"):
        launcher.chmod(0o755)
    project = PROJECT.replace("-", "_")
    if not list((slot / "wheels").glob(f"{project}-{manifest['version']}-*.whl")):
        raise RuntimeError(f"the bundle holds no {project}-{manifest['version']} wheel")
    base_python = python or getattr(sys, "_base_executable", None) or sys.executable
    venv_python = str(slot / "venv/bin/python")
    # pip runs from the bundle's own pip wheel (pip supports `python pip.whl/pip`).
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
    _run([venv_python, "-I", "-c", IMPORT_CHECK], "import the release")
    for d in ("wheels", "sdists"):
        shutil.rmtree(slot / d, ignore_errors=True)  # installed: the SD card need not keep them
    write_atomic(slot / INSTALLED_MARK, json.dumps(manifest, indent=2) + "\n", 0o644)


def _run(cmd: list[str], step: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no configured index, mirror or find-links
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise RuntimeError(f"could not {step}: {tail}")
