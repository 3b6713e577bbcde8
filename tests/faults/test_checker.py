"""The checker itself can fail: hand-made marks with an overlap, a double run, a re-run."""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path

from tests.faults.checker import Run, load_runs, lost, violations
from tests.faults.marks import job_command, read_starts
from tests.faults.watcher import Watcher


def run(job: str, start: float, end: float, *, gpus: tuple[str, ...] = ("G0",),
        fraction: float = 1.0, attempt: int = 1, exit_code: int | None = 0, pid: int = 0) -> Run:
    return Run(job=job, replica=0, attempt=attempt, gpus=gpus, fraction=fraction, start=start,
               end=end, exit_code=exit_code, pid=pid)


def test_a_clean_history_passes() -> None:
    runs = [
        run("a", 0, 10, fraction=0.5), run("b", 2, 8, fraction=0.5),
        run("c", 10, 12, gpus=("G0", "G1")),  # starts the instant a ends: half-open intervals
        run("d", 0, 5, attempt=1, exit_code=None, gpus=("G2",)),
        run("d", 5, 9, attempt=2, gpus=("G2",)),  # killed, then run again: allowed
    ]
    assert violations(runs) == []


def test_two_halves_and_a_quarter_overlap_on_one_gpu() -> None:
    runs = [run("a", 0, 10, fraction=0.5), run("b", 1, 10, fraction=0.5),
            run("c", 9, 12, fraction=0.25)]
    [problem] = violations(runs)
    assert problem.startswith("GPU G0 held 1.250 at 9.00")


def test_a_whole_gpu_of_a_gang_counts_whole() -> None:
    # fraction 2 (two whole GPUs) holds each of them wholly, so a 0.1 beside it is too much
    runs = [run("a", 0, 10, gpus=("G0", "G1"), fraction=2), run("b", 3, 4, gpus=("G1",),
                                                                  fraction=0.1)]
    assert [p.split(" at")[0] for p in violations(runs)] == ["GPU G1 held 1.100"]


def test_a_job_running_twice_at_once_is_caught() -> None:
    runs = [run("a", 0, math.inf, gpus=("G0",), exit_code=None),
            run("a", 5, 7, gpus=("G9",), attempt=2)]
    assert violations(runs) == [
        "ran twice at once: a/0 attempt 1 [0.00, inf] and a/0 attempt 2 [5.00, 7.00]"]


def test_a_run_after_success_is_caught() -> None:
    runs = [run("a", 0, 3, exit_code=0), run("a", 4, 6, attempt=2)]
    assert violations(runs) == [
        "ran again after it succeeded: a/0 attempt 1 [0.00, 3.00] then a/0 attempt 2 [4.00, 6.00]"]


def test_lost_jobs_and_successes_nobody_ran_are_named() -> None:
    runs = [run("a", 0, 1), run("b", 0, 1, exit_code=None)]
    statuses = {"a": "succeeded", "b": "succeeded", "c": "pending"}
    assert lost(runs, statuses) == [
        "job c is pending, not succeeded", "job b is succeeded but no run of it exited 0"]


def test_a_job_script_marks_itself_and_the_watcher_sees_it_go(tmp_path: Path) -> None:
    # The marks the real jobs write, from the same script, run here by hand.
    env = {"GPUSCHED_JOB_ID": "j1", "GPUSCHED_REPLICA_INDEX": "0", "GPUSCHED_ATTEMPT": "2",
           "CUDA_VISIBLE_DEVICES": "GPU-x,GPU-y", "GPUSCHED_GPU_FRACTION": "2", "PATH": "/usr/bin:/bin"}
    watcher = Watcher(tmp_path)
    child = subprocess.Popen(job_command(tmp_path, seconds=30, stop_seconds=0.2), env=env)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("start.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.poll()
    [mark] = read_starts(tmp_path)
    assert (mark.job, mark.attempt, mark.gpus, mark.pid) == ("j1", 2, ("GPU-x", "GPU-y"), child.pid)
    assert [m.pid for m in watcher.alive()] == [child.pid]
    child.terminate()
    assert child.wait(timeout=30) == 143  # it trapped SIGTERM, checkpointed, and said so
    watcher.poll()
    [done] = load_runs(tmp_path, watcher.gone_times())
    assert done.exit_code == 143 and done.start < done.end < math.inf
    assert watcher.alive() == []
