"""Issue 16, finding 10: the simulator's journal and state hold full patron numbers, so
they are created 0600 (whatever the umask) and an older, wider file is tightened."""

from __future__ import annotations

import os
import stat

from ils_sim.circulation import Circulation
from ils_sim.journal import Journal, Request
from ils_sim.library import load_library
from tests.ils_sim.conftest import DATA

READER, ITEM = "0101000012373", "30101000000018"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_journal_and_state_files_are_created_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        journal = Journal(tmp_path / "ils.jsonl")
        journal.record(Request(command="11", time="t", patron=READER, item=ITEM, ok="1"))
        circulation = Circulation(load_library(DATA), state_file=tmp_path / "state.json")
        assert circulation.checkout(READER, ITEM).ok
    finally:
        os.umask(old)
    assert mode(tmp_path / "ils.jsonl") == 0o600
    assert mode(tmp_path / "state.json") == 0o600
    assert READER in (tmp_path / "ils.jsonl").read_text()  # what makes them private
    assert not (tmp_path / "state.json.tmp").exists()


def test_files_an_older_simulator_left_readable_are_tightened_on_the_next_write(tmp_path):
    for name in ("ils.jsonl", "state.json"):
        (tmp_path / name).write_text("")
        os.chmod(tmp_path / name, 0o644)
    (tmp_path / "state.json").write_text('{"items": {}}')
    Journal(tmp_path / "ils.jsonl").record(Request(command="99", time="t"))
    Circulation(load_library(DATA), state_file=tmp_path / "state.json").checkout(READER, ITEM)
    assert mode(tmp_path / "ils.jsonl") == mode(tmp_path / "state.json") == 0o600


def test_the_simulator_process_writes_its_files_0600(data_file, connect, tmp_path):
    from tests.ils_sim.test_ils_process import _free_port, _start, _stop

    port = _free_port()
    proc = _start(port, data_file, tmp_path)
    try:
        client = connect(port, "gb18030")
        client.login()
        assert client.checkout(READER, ITEM).fixed[0] == "1"
    finally:
        assert _stop(proc) == 0
    assert mode(tmp_path / "ils.jsonl") == mode(tmp_path / "ils-state.json") == 0o600
