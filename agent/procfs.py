"""Facts about host processes from /proc: identity across agent restarts, sessions, groups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat the agent needs."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int
    """Start time in clock ticks since boot: with the pid, it identifies one process for good."""

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """/proc/PID/stat of a process, or None when there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    rest = text[text.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=rest[0],
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        start_ticks=int(rest[19]),
    )


def is_same_process(pid: int, start_ticks: int) -> bool:
    """True when `pid` still names the live process that started at `start_ticks`."""
    stat = read_stat(pid)
    return stat is not None and stat.alive and stat.start_ticks == start_ticks


def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process remains in process group `pgid`."""
    for entry in os.scandir(_PROC):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgid and stat.alive:
                return True
    return False


def owning_session(pid: int, sessions: set[int], *, max_depth: int = 32) -> int | None:
    """The session leader in `sessions` that `pid` belongs to (by session id, then by ancestry)."""
    stat = read_stat(pid)
    for _ in range(max_depth):
        if stat is None:
            return None
        if stat.session in sessions:
            return stat.session
        if stat.pid in sessions:
            return stat.pid
        if stat.ppid <= 1:
            return None
        stat = read_stat(stat.ppid)
    return None
