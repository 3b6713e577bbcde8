"""Watches the job processes named in start marks and records when each is seen gone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.faults.marks import StartMark, read_start

POLL_SECONDS = 0.05


def process_alive(pid: int, ticks: int) -> bool:
    """True while `pid` is the process that started at `ticks` and has not exited (zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (ticks == 0 or int(fields[19]) == ticks)


class Watcher:
    """A thread that polls /proc every 50 ms for the pid of every start mark in `marks`."""

    def __init__(self, marks: Path) -> None:
        self._marks = marks
        self._seen: set[str] = set()
        self._live: dict[str, StartMark] = {}
        self.gone: dict[str, float] = {}
        """Start-mark name → wall time at which its process was first seen gone."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faults-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def alive(self) -> list[StartMark]:
        """The marked processes alive at the last poll."""
        with self._lock:
            return list(self._live.values())

    def gone_times(self) -> dict[str, float]:
        with self._lock:
            return dict(self.gone)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(POLL_SECONDS)

    def poll(self) -> None:
        """One look: pick up new start marks, note which watched processes have gone."""
        for path in self._marks.glob("start.*"):
            if path.name not in self._seen:
                self._seen.add(path.name)
                mark = read_start(path)
                with self._lock:
                    self._live[mark.name] = mark
        now = time.time()
        with self._lock:
            for name, mark in list(self._live.items()):
                if not process_alive(mark.pid, mark.ticks):
                    self.gone[name] = now
                    del self._live[name]
