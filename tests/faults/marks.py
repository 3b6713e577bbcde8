"""Jobs that record themselves: shell scripts writing start and end marks, and their reader."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

# Every mark is written to a temporary name and renamed, so a reader never sees half of one.
# The start mark carries the process's start time from /proc (field 22 of its stat), so the
# watcher can tell this process from a later one that reuses its pid.
_START = """\
M={marks}; me=$GPUSCHED_JOB_ID.$GPUSCHED_REPLICA_INDEX.${{GPUSCHED_ATTEMPT:-0}}.$$
read -r st < /proc/$$/stat; set -- ${{st##*) }}; ticks=${{20}}
printf 'job=%s\\nreplica=%s\\nattempt=%s\\ngpus=%s\\nfraction=%s\\npid=%s\\nticks=%s\\ntime=%s\\n' \\
  "$GPUSCHED_JOB_ID" "$GPUSCHED_REPLICA_INDEX" "${{GPUSCHED_ATTEMPT:-0}}" \\
  "$CUDA_VISIBLE_DEVICES" "$GPUSCHED_GPU_FRACTION" $$ "$ticks" "$(date +%s.%N)" > $M/.s.$me
mv $M/.s.$me $M/start.$me
end() {{ printf 'exit=%s\\ntime=%s\\n' "$1" "$(date +%s.%N)" > $M/.e.$me; mv $M/.e.$me $M/end.$me; \
exit "$1"; }}
set -- $M/start.$GPUSCHED_JOB_ID.$GPUSCHED_REPLICA_INDEX.*
if [ $# -gt 1 ]; then secs={rerun}; else secs={first}; fi
"""

_PLAIN = "sleep $secs\nend {exit_code}\n"
# A training job: on SIGTERM it stops its work, checkpoints for a while, and exits 143.
_CHECKPOINTING = """\
trap 'kill $w 2>/dev/null; sleep {stop}; end 143' TERM
sleep $secs & w=$!
wait $w
end {exit_code}
"""


def job_command(
    marks: Path,
    *,
    seconds: float,
    rerun_seconds: float | None = None,
    stop_seconds: float | None = None,
    exit_code: int = 0,
) -> list[str]:
    """argv of a job that marks its start and end; a later run of the same replica lasts
    `rerun_seconds`; with `stop_seconds` it traps SIGTERM and takes that long to stop."""
    head = _START.format(marks=shlex.quote(str(marks)), first=seconds,
                         rerun=seconds if rerun_seconds is None else rerun_seconds)
    if stop_seconds is None:
        body = _PLAIN.format(exit_code=exit_code)
    else:
        body = _CHECKPOINTING.format(stop=stop_seconds, exit_code=exit_code)
    return ["sh", "-c", head + body]


@dataclass(frozen=True)
class StartMark:
    job: str
    replica: int
    attempt: int
    gpus: tuple[str, ...]
    fraction: float
    pid: int
    ticks: int
    time: float

    @property
    def name(self) -> str:
        return f"{self.job}.{self.replica}.{self.attempt}.{self.pid}"


@dataclass(frozen=True)
class EndMark:
    exit_code: int
    time: float


def _fields(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def read_start(path: Path) -> StartMark:
    f = _fields(path)
    return StartMark(
        job=f["job"], replica=int(f["replica"]), attempt=int(f["attempt"] or 0),
        gpus=tuple(g for g in f["gpus"].split(",") if g), fraction=float(f["fraction"] or 0),
        pid=int(f["pid"]), ticks=int(f["ticks"] or 0), time=float(f["time"]),
    )


def read_starts(marks: Path) -> list[StartMark]:
    return [read_start(path) for path in sorted(marks.glob("start.*"))]


def read_ends(marks: Path) -> dict[str, EndMark]:
    """End marks by the name of the start they close (job.replica.attempt.pid)."""
    ends = {}
    for path in marks.glob("end.*"):
        f = _fields(path)
        ends[path.name.removeprefix("end.")] = EndMark(int(f["exit"]), float(f["time"]))
    return ends
