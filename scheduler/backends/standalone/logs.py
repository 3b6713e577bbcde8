"""Where job logs live: one file per (job, attempt, replica) under $GPUSCHED_HOME/logs."""

from __future__ import annotations

from pathlib import Path


def log_path(logs_dir: Path, job_id: str, replica: int, attempt: int) -> Path:
    """The log of one replica of one attempt: `logs/JOB/REPLICA.log` for attempt 1 (the name from
    before attempts), `logs/JOB/REPLICA.ATTEMPT.log` after; the agent's names, so an agent sharing
    the home (`gpusched up`) writes where the API reads."""
    stem = str(replica) if attempt <= 1 else f"{replica}.{attempt}"
    return logs_dir / job_id / f"{stem}.log"


class OffsetPastEnd(Exception):
    """An upload starts beyond the bytes stored: the agent must resend from `size`."""

    def __init__(self, offset: int, size: int) -> None:
        super().__init__(f"offset {offset} is past the stored end {size}; resend from {size}")
        self.size = size


def append(path: Path, data: bytes, *, offset: int) -> int:
    """Store `data`, which starts at byte `offset` of the log; bytes already held are skipped.
    Returns the size now stored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        size = handle.tell()
        if offset > size:
            raise OffsetPastEnd(offset, size)
        handle.write(data[size - offset :])
        return handle.tell()


def read_tail(path: Path, tail_bytes: int) -> bytes:
    """The last `tail_bytes` of the file (empty when there is none)."""
    if not path.is_file():
        return b""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - tail_bytes))
        return handle.read()
