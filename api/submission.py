"""Submit checks: the queue exists and is a leaf, the request fits the largest node, idempotency."""

from __future__ import annotations

import hashlib
import json
import time
import weakref

from fastapi import HTTPException, status
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, forbidden
from api.schemas.jobs import JobCreate
from scheduler.core.model import gpus_to_milli
from scheduler.store import jobs, nodes, queues
from scheduler.store.tables import JobRow

_422 = status.HTTP_422_UNPROCESSABLE_CONTENT


def submit(
    session: Session, body: JobCreate, *, principal: Principal, idempotency_key: str | None
) -> tuple[JobRow, bool]:
    """Store a pending job and commit; returns (job, created). A replayed key gives the first."""
    if not principal.may_use_queue(body.queue):
        raise forbidden(f"submit to queue {body.queue!r}")
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    if idempotency_key is not None:
        earlier = jobs.by_idempotency_key(session, principal.token_id, idempotency_key)
        if earlier is not None:
            return _replay(earlier, request_hash), False
    _check_queue(session, body.queue)
    _check_fits(session, body)
    now = time.time()
    job = JobRow(
        id=jobs.new_id(),
        queue=body.queue,
        name=body.name,
        user=principal.name,
        status="pending",
        gpu_milli=gpus_to_milli(body.gpus) if body.gpus is not None else 0,
        gpu_memory_mib=body.gpu_memory_mib or 0,
        cpu_millis=body.cpu_millis,
        memory_mib=body.memory_mib,
        replicas=body.replicas,
        priority=body.priority,
        preemptible=body.preemptible,
        requeue=body.requeue,
        command=list(body.command),
        env=dict(body.env),
        reason=None,
        message="",
        token_id=principal.token_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        jobs.add(session, job)
        session.commit()
    except IntegrityError:
        # A concurrent retry with the same key won the insert: answer with its job.
        session.rollback()
        if idempotency_key is None:
            raise
        earlier = jobs.by_idempotency_key(session, principal.token_id, idempotency_key)
        if earlier is None:
            raise
        return _replay(earlier, request_hash), False
    return job, True


def _replay(earlier: JobRow, request_hash: str) -> JobRow:
    if earlier.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key was already used for job {earlier.id} with a different request",
        )
    return earlier


def _check_queue(session: Session, name: str) -> None:
    leaf = queues.leaf_status(session, name)
    if leaf is None:
        raise HTTPException(
            _422, f"queue {name!r} does not exist (list queues with GET /v1/queues)"
        )
    if not leaf:
        raise HTTPException(
            _422, f"queue {name!r} has child queues; submit to one of its leaf queues"
        )


_LARGEST_TTL_SECONDS = 2.0
_largest_cache: weakref.WeakKeyDictionary[Engine, tuple[float, nodes.Largest]] = (
    weakref.WeakKeyDictionary()
)


def _largest(session: Session) -> nodes.Largest:
    """The largest node, re-read at most every 2 s (nodes change rarely; submits are many)."""
    key = session.get_bind().engine
    now = time.monotonic()
    cached = _largest_cache.get(key)
    if cached is not None and now - cached[0] < _LARGEST_TTL_SECONDS:
        return cached[1]
    largest = nodes.largest(session)
    _largest_cache[key] = (now, largest)
    return largest


def _check_fits(session: Session, body: JobCreate) -> None:
    """422 when no node could ever hold one replica (compared with the largest node stored)."""
    largest = _largest(session)
    if largest.nodes == 0:
        return  # no node has joined yet: the job waits for one
    problems = []
    gpus = body.gpus or 0
    if gpus >= 1 and gpus > largest.gpus:
        problems.append(f"{gpus:g} GPUs per replica, but the largest node has {largest.gpus}")
    if body.gpu_memory_mib and body.gpu_memory_mib > largest.gpu_memory_mib:
        problems.append(
            f"{body.gpu_memory_mib} MiB of GPU memory, but the largest GPU has "
            f"{largest.gpu_memory_mib} MiB"
        )
    if body.cpu_millis > largest.cpu_millis:
        problems.append(
            f"{body.cpu_millis} CPU millis, but the largest node has {largest.cpu_millis}"
        )
    if body.memory_mib > largest.memory_mib:
        problems.append(
            f"{body.memory_mib} MiB of memory, but the largest node has {largest.memory_mib}"
        )
    if problems:
        raise HTTPException(_422, "the request is larger than any node: " + "; ".join(problems))
