"""Every command README.md and docs/commands.md give for use after `make run` works,
pasted as written, against the lab `make run` builds: `kiosk_tools.launch.start_secure`
(the same code `make run` runs: a local CA, the TLS broker, Dongcheng's ILS, hub worker 1,
the operator's `var/lab/hub.toml`) in a temporary directory on free ports, with kiosk
`sim-kiosk-1` running headless as `make run` starts it. Each command runs in that
directory, with no extra flag and no `ALLIANCE_HUB_CONFIG`: it finds the lab itself.

Also: a failed `expect` against a broker with no hub says that no hub answered.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.cli.operator_config import ENV_VAR
from hub.lab.broker_process import TlsMosquittoProcess
from hub.lab.lab import Lab
from kiosk_tools import launch

REPO = Path(__file__).resolve().parents[2]
MARK = "<!-- played as written by tests/e2e/test_operator_commands.py -->"
DOCS = (REPO / "README.md", REPO / "docs" / "commands.md")
# `python -m hub` subcommands the docs name that a test of a running lab does not play.
NOT_PLAYED = {
    "retire": "it ends a worker for good: the lab has one (tests/hub/worker/test_worker_sessions.py plays it)",
    "broker-config": "a deployment step, into a directory the mosquitto user can reach "
    "(tests/security/test_enrolment.py plays it); make run's broker has its own",
}
FOUND = "hub: using var/lab/hub.toml (the lab `make run` set up"


def played_commands(doc: Path) -> list[str]:
    """The command lines of the ```sh blocks that follow MARK in `doc`."""
    lines: list[str] = []
    for part in doc.read_text(encoding="utf-8").split(MARK)[1:]:
        block = part.split("```sh\n", 1)[1].split("```", 1)[0]
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return lines


@dataclass
class MadeRun:
    folder: Path  # where `make run` ran: var/ and scenarios/ are here
    alliance: launch.Alliance
    kiosk_log: Path

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(line)
        assert argv[0] in (".venv/bin/python", "python"), line
        env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
        env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        return subprocess.run([sys.executable, *argv[1:]], cwd=self.folder, capture_output=True, text=True,
                              timeout=240, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def made_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeRun]:
    folder = tmp_path_factory.mktemp("make-run")
    (folder / "scenarios").symlink_to(REPO / "scenarios")
    alliance = launch.start_secure(folder / "var", preferred_ports=False)
    log = folder / "sim-kiosk-1.log"
    with open(log, "w", encoding="utf-8") as out:
        kiosk = subprocess.Popen([*alliance.kiosk_argv, "--headless"], cwd=folder, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    made = MadeRun(folder, alliance, log)
    try:
        deadline = time.monotonic() + 60
        while not _online(made, "sim-kiosk-1"):
            if time.monotonic() > deadline or kiosk.poll() is not None:
                pytest.fail(f"sim-kiosk-1 did not come online; its log: {log}")
            time.sleep(0.5)
        yield made
    finally:
        kiosk.terminate()
        kiosk.wait(timeout=20)
        alliance.close()


def _online(made: MadeRun, kiosk_id: str) -> bool:
    out = made.run(".venv/bin/python -m hub status --json")
    if out.returncode != 0:
        return False
    return any(k["kiosk_id"] == kiosk_id and k["state"] == "online" for k in json.loads(out.stdout)["kiosks"])


def _json(out: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(out.stdout)


Out = subprocess.CompletedProcess[str]


def _status_counts_the_scenarios_exceptions(o: Out) -> bool:
    return any(k["kiosk_id"] == "scenario-capital" and k["open_exceptions"] >= 1 for k in _json(o)["kiosks"])


def _selftest_in_words(o: Out) -> bool:
    return "sim-kiosk-1: self-test passed" in o.stdout and "PASS  card_reader" in o.stdout


def _exceptions_in_words(o: Out) -> bool:
    words = ("[item_on_hold]", "《推拿", "冯*德 (bj-joint card)", "[item_unknown]", "kiosk scenario-capital at capital")
    return all(w in o.stdout for w in words) and "0106000012398" not in o.stdout


def _exceptions_json(o: Out) -> bool:
    found = _json(o)["exceptions"]
    return {e["reason"] for e in found} >= {"item_on_hold", "item_unknown"} and found[0]["state"] == "resolved"


# What each played command must show beyond exit 0 (the first pattern matching the line).
CHECKS: list[tuple[str, Callable[[Out], object]]] = [
    (r"hub status --json$", _status_counts_the_scenarios_exceptions),
    (r"hub status$", lambda o: "sim-kiosk-1" in o.stdout and "EXCEPTIONS" in o.stdout and "east" in o.stdout),
    (r"hub demo$", lambda o: "王小明" in o.stdout),
    (r"command sim-kiosk-1 selftest$", _selftest_in_words),
    (r"command sim-kiosk-1 selftest --json$", lambda o: _json(o)["ok"] and len(_json(o)["detail"]["devices"]) >= 4),
    (r"maintenance_on$", lambda o: "maintenance mode on" in o.stdout),
    (r"maintenance_off$", lambda o: "maintenance mode off" in o.stdout),
    (r"--script ", lambda o: "PASS: all" in o.stdout and "scenario: kiosk scenario-capital on mqtts://" in o.stderr),
    (r"hub exceptions$", _exceptions_in_words),
    (r"exceptions resolve 1 ", lambda o: "exception 1 resolved by " in o.stdout),
    (r"exceptions --kiosk scenario-capital", _exceptions_json),
    (r"exceptions --open$", lambda o: "#1 " not in o.stdout and "[item_unknown]" in o.stdout),
    (r"sip2-check east$", lambda o: o.stdout.startswith("OK east")),
    (r"hub enroll ", lambda o: "kiosk lab-kiosk-2 admitted" in o.stdout),
    (r"hub revoke ", lambda o: "kiosk lab-kiosk-2 expelled" in o.stdout),
]
# Operator commands must say which settings they found.
SAYS_FOUND = re.compile(r"-m hub (status|command|exceptions|demo|enroll|revoke|sip2-check)\b")


@pytest.mark.slow
def test_every_command_the_docs_give_after_make_run_works_as_written(made_run: MadeRun) -> None:
    played = [line for doc in DOCS for line in played_commands(doc)]
    assert len(played) >= 15, played
    failures = []
    for line in played:
        out = made_run.run(line)
        said = f"$ {line}\nexit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        check = next((c for pattern, c in CHECKS if re.search(pattern, line)), None)
        if out.returncode != 0 or (check is not None and not check(out)):
            failures.append(said)
        elif SAYS_FOUND.search(line) and FOUND not in out.stderr:
            failures.append(f"{said}\n(it did not say which config it used)")
    assert not failures, "\n\n".join(failures)


def test_every_hub_subcommand_the_docs_name_is_played_or_excused() -> None:
    from hub.__main__ import build_parser

    subs = next(a for a in build_parser()._actions if a.dest == "command").choices
    text = "\n".join(d.read_text(encoding="utf-8") for d in DOCS)
    played = "\n".join(line for doc in DOCS for line in played_commands(doc))
    named = {s for s in subs if re.search(rf"python -m hub (\[[^\]]*\] |--\S+ \S+ )*{re.escape(s)}\b", text)}
    missing = {s for s in named if not re.search(rf"-m hub {re.escape(s)}\b", played) and s not in NOT_PLAYED}
    assert not missing, (
        f"documented but never played after make run: {sorted(missing)}: add an example to a block marked "
        f"{MARK!r} (or a reason to NOT_PLAYED)"
    )


@pytest.mark.slow
def test_a_failed_expect_says_that_no_hub_answered(tmp_path: Path, lab: Lab, own_broker: TlsMosquittoProcess) -> None:
    """A broker, and no hub: the reader's tap goes unanswered, the kiosk serves offline."""
    script = tmp_path / "no_hub.txt"
    script.write_text("tap 0110000012341\nexpect screen pin\n", encoding="utf-8")
    bundle = lab.kiosk("no-hub-kiosk", "capital")
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--script", str(script),
         "--broker", own_broker.url, "--kiosk-id", "no-hub-kiosk", "--library", "capital",
         "--identity", str(bundle.cert.parent)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL: line 2: 'expect screen' did not hold; saw screen 'borrow'" in out.stdout
    assert (
        f"the hub did not answer the kiosk's request (lookup) within 3 s: is the hub running and reachable "
        f"at {own_broker.url}?" in out.stdout
    )


@pytest.mark.slow
def test_a_scenario_elsewhere_finds_the_lab_through_the_environment(made_run: MadeRun, tmp_path: Path) -> None:
    """From any directory, with ALLIANCE_HUB_CONFIG naming make run's settings: a scenario
    at another library plays as that library's lab kiosk, enrolled with its probe."""
    config = made_run.folder / "var" / "lab" / "hub.toml"
    env = {**os.environ, "PYTHONPATH": str(REPO), ENV_VAR: str(config)}
    script = REPO / "scenarios" / "nlc_card_at_district_library.txt"
    out = subprocess.run(
        [sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--script", str(script), "--library", "dongcheng"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"hub: using {config} (from {ENV_VAR})" in out.stderr
    assert "scenario: kiosk scenario-dongcheng on mqtts://" in out.stderr
    kiosks = made_run.folder / "var" / "lab" / "kiosks"
    assert (kiosks / "scenario-dongcheng" / "kiosk.crt").is_file()
    assert (kiosks / "scenario-dongcheng-probe" / "kiosk.crt").is_file()


def _play(script: Path, *extra: str, cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), ENV_VAR: str(config)}
    return subprocess.run([sys.executable, "-m", "kiosk_tools", "--sim", "--headless", "--script", str(script), *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=env)  # fmt: skip


def test_a_scenario_says_when_the_labs_broker_is_not_running_and_never_moves_a_labs_kiosk(tmp_path: Path) -> None:
    from hub.lab.broker_process import free_port
    from hub.pki.pki_files import enrolled_kiosks

    lab = Lab(tmp_path / "var" / "lab")
    lab.kiosk("sim-kiosk-1", "capital")
    config = lab.operator_config(f"mqtts://127.0.0.1:{free_port()}", f"sqlite:///{tmp_path}/hub.sqlite")
    script = REPO / "scenarios" / "help.txt"
    down = _play(script, cwd=tmp_path, config=config)
    assert down.returncode == 1 and "is `make run` running?" in down.stderr, down.stderr
    moved = _play(script, "--kiosk-id", "sim-kiosk-1", "--library", "xicheng", cwd=tmp_path, config=config)
    assert moved.returncode == 2 and "kiosk sim-kiosk-1 is enrolled for capital, not xicheng" in moved.stderr
    entry = enrolled_kiosks(lab.pki.root)["sim-kiosk-1"]
    assert entry["library_id"] == "capital" and entry.get("revoked_at") is None
