"""Where job logs live: one file per (job, attempt, replica) under $GPUSCHED_HOME/logs."""

from __future__ import annotations

from pathlib import Path


def log_path(logs_dir: Path, job_id: str, replica: int, attempt: int) -> Path:
    """The log of one replica of one attempt: `logs/JOB/attempt-A/REPLICA.log`."""
    return logs_dir / job_id / f"attempt-{attempt}" / f"{replica}.log"


def legacy_path(logs_dir: Path, job_id: str, replica: int) -> Path:
    """`logs/JOB/REPLICA.log`: logs stored before attempts (and an agent sharing the home that
    writes there directly)."""
    return logs_dir / job_id / f"{replica}.log"


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
