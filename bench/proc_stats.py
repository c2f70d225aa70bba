"""What a process costs, read from /proc (Linux): CPU seconds, resident memory, threads.

The fleet bench samples the hub worker, the broker and itself with these, so a phase's
figures are the processes' own accounting, not a guess from wall time. A process that
is gone reads as 0 (a broker SIGKILLed between two samples is not an error).
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far (threads included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _status(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of `pid`, MiB."""
    return round(_status(pid, "VmRSS") / 1024, 1)


def threads(pid: int) -> int:
    return _status(pid, "Threads")


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
