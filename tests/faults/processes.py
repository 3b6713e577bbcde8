"""Child processes for the fault tests, each in its own session, and the hunt for leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The marker every child (and so every job, which inherits its agent's environment) carries.
MARKER_VAR = "GPUSCHED_FAULTS_RUN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gpusched_argv(*args: str) -> list[str]:
    """The `gpusched` command run by this interpreter (the worktree's code, via PYTHONPATH)."""
    return [sys.executable, "-c", "from scheduler.cli.main import main; main()", *args]


class Proc:
    """One `gpusched` process in a session of its own, its output in `log`."""

    def __init__(self, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.argv = argv
        self.log = log
        with open(log, "ab") as out:
            # A file, not a pipe: a pipe nobody reads fills up and blocks the process.
            self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Signal the process's whole group (jobs it started are in sessions of their own)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def wait(self, seconds: float) -> int | None:
        try:
            return self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def marked_pids(marker: str) -> list[int]:
    """Live processes whose environment carries `MARKER_VAR=marker`."""
    needle = f"{MARKER_VAR}={marker}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


def kill_marked(marker: str, *, seconds: float = 15) -> list[int]:
    """SIGKILL the process group of every marked process until none is left; returns the pids
    that outlived `seconds` (none, unless something escaped)."""
    own_group = os.getpgrp()
    deadline = time.monotonic() + seconds
    while True:
        pids = marked_pids(marker)
        if not pids or time.monotonic() > deadline:
            return pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group != own_group:
                    os.killpg(group, signal.SIGKILL)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
