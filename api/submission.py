"""Submit checks: the queue exists and is a leaf, the request fits the largest node, idempotency.

`prepare` turns a validated body into the row to store (no I/O); `check` refuses what the store
would hold but no node could run; `submit` stores one job in its own transaction. The API
normally stores submits in groups (api/batching.py) and uses `submit` when a group fails.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.schemas.jobs import JobCreate, JobPublic
from api.views import job_public
from scheduler.core.model import gpus_to_milli, milli_to_gpus
from scheduler.protocol import JobStatus
from scheduler.store import allocations, jobs, nodes, queues
from scheduler.store.tables import JobRow

_404 = status.HTTP_404_NOT_FOUND
_409 = status.HTTP_409_CONFLICT


@dataclass(frozen=True, slots=True)
class Prepared:
    """A submit that passed validation and the scope check, with the row it would store."""

    body: JobCreate
    principal: Principal
    idempotency_key: str | None
    request_hash: str
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Submitted:
    """The answer to one submit: the job, and whether this request created it."""

    job: JobPublic
    created: bool


def prepare(body: JobCreate, *, principal: Principal, idempotency_key: str | None) -> Prepared:
    """The row of a new pending job for `body` (id and times fixed now)."""
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    now = time.time()
    row: dict[str, Any] = {
        "id": jobs.new_id(),
        "queue": body.queue,
        "name": body.name,
        "user": principal.name,
        "status": JobStatus.PENDING.value,
        "gpu_milli": gpus_to_milli(body.gpus) if body.gpus is not None else 0,
        "gpu_memory_mib": body.gpu_memory_mib or 0,
        "cpu_millis": body.cpu_millis,
        "memory_mib": body.memory_mib,
        "replicas": body.replicas,
        "priority": body.priority,
        "preemptible": body.preemptible,
        "requeue": body.requeue,
        "command": list(body.command),
        "env": dict(body.env),
        "message": "",
        "token_id": principal.token_id,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    return Prepared(body, principal, idempotency_key, request_hash, row)


def new_job_public(row: dict[str, Any]) -> JobPublic:
    """The public view of a job just stored from `row` (pending, holding nothing)."""
    return JobPublic(
        id=row["id"],
        queue=row["queue"],
        name=row["name"],
        user=row["user"],
        status=JobStatus.PENDING,
        gpus=milli_to_gpus(row["gpu_milli"]),
        gpu_memory_mib=row["gpu_memory_mib"] or None,
        cpu_millis=row["cpu_millis"],
        memory_mib=row["memory_mib"],
        replicas=row["replicas"],
        priority=row["priority"],
        preemptible=row["preemptible"],
        requeue=row["requeue"],
        command=row["command"],
        env=row["env"],
        created_at=row["created_at"],
        started_at=None,
        finished_at=None,
        exit_code=None,
        message="",
        attempts=0,
        reason=None,
        allocations=[],
    )


def replay(session: Session, earlier: JobRow, request_hash: str) -> Submitted:
    """The answer to a retried key: the earlier job, or 409 when the request differs."""
    if earlier.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key was already used for job {earlier.id} with a different request",
        )
    held = allocations.of_jobs(session, [earlier.id]).get(earlier.id, [])
    return Submitted(job_public(earlier, held), created=False)


def submit(session: Session, prepared: Prepared) -> Submitted:
    """Store one pending job and commit (its own transaction). A replayed key gives the first."""
    key = prepared.idempotency_key
    token_id = prepared.principal.token_id
    if key is not None:
        earlier = jobs.by_idempotency_key(session, token_id, key)
        if earlier is not None:
            return replay(session, earlier, prepared.request_hash)
    check(session, prepared.body, queues.leaf_status(session, prepared.body.queue))
    try:
        inserted = jobs.add_many(session, [prepared.row])
        session.commit()
    except IntegrityError:
        session.rollback()
        raise
    if inserted:
        return Submitted(new_job_public(prepared.row), created=True)
    # A concurrent request with the same key stored its job between our look-up and insert.
    earlier = jobs.by_idempotency_key(session, token_id, key) if key is not None else None
    if earlier is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the request conflicts with stored data")
    return replay(session, earlier, prepared.request_hash)


def check(session: Session, body: JobCreate, leaf: bool | None) -> None:
    """404 unless the queue exists (`leaf`: None when missing), 409 unless it is a leaf and a
    node fits: the body is well formed (its schema says so), the stored state refuses it."""
    name = body.queue
    if leaf is None:
        raise HTTPException(
            _404, f"queue {name!r} does not exist (list queues with GET /v1/queues)"
        )
    if not leaf:
        raise HTTPException(
            _409, f"queue {name!r} has child queues; submit to one of its leaf queues"
        )
    _check_fits(body, _largest(session))


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


def _check_fits(body: JobCreate, largest: nodes.Largest) -> None:
    """409 when no node could ever hold one replica (compared with the largest node stored)."""
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
        raise HTTPException(_409, "the request is larger than any node: " + "; ".join(problems))
