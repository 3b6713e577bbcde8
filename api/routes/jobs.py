"""/v1/jobs: submit, list, read, cancel, explain, logs, events."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import PlainTextResponse

from api import capacity
from api.auth import Principal, forbidden
from api.deps import JobIdPath, PersonDep, SessionDep, SettingsDep, SubmissionsDep, WakeupDep
from api.schemas.errors import errors
from api.schemas.jobs import EventPublic, ExplainPublic, JobCreate, JobPublic
from api.submission import prepare
from api.views import allocation_public, event_public, job_public
from scheduler.backends.standalone import logs
from scheduler.core.model import milli_to_gpus
from scheduler.protocol import FINAL_STATUSES, JobStatus
from scheduler.store import allocations, events, jobs, nodes, queues
from scheduler.store.db import Session
from scheduler.store.tables import AllocationRow, JobRow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=errors(401, 403, 503))


@router.post(
    "",
    response_model=JobPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 404, 409, 413),
)
async def submit_job(
    body: JobCreate,
    principal: PersonDep,
    submissions: SubmissionsDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Queue a job (pending). A retry with the same Idempotency-Key returns the same job."""
    if not principal.may_use_queue(body.queue):
        raise forbidden(f"submit to queue {body.queue!r}")
    prepared = prepare(body, principal=principal, idempotency_key=idempotency_key)
    submitted = await submissions.submit(prepared)  # written with concurrent submits, committed
    return Response(
        submitted.job.model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
        headers=None if submitted.created else {"Idempotent-Replayed": "true"},
    )


@router.get("", response_model=list[JobPublic])
def list_jobs(
    session: SessionDep,
    principal: PersonDep,
    response: Response,
    queue: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[JobPublic]:
    """Jobs newest first; X-Total-Count carries the number matching the filters."""
    if queue is not None and not principal.may_use_queue(queue):
        raise forbidden(f"list jobs of queue {queue!r}")
    rows, total = jobs.search(
        session,
        queues=principal.queue_scope,
        queue=queue,
        status=status_,
        limit=limit,
        offset=offset,
    )
    held = placements(session, [r for r in rows if r.status != JobStatus.PENDING])
    response.headers["X-Total-Count"] = str(total)
    return [job_public(row, held.get(row.id, [])) for row in rows]


@router.get("/{job_id}", response_model=JobPublic, responses=errors(404))
def get_job(job_id: JobIdPath, session: SessionDep, principal: PersonDep) -> JobPublic:
    """One job; `allocations` are its GPU shares, or where it last ran once it ended."""
    job = visible_job(session, principal, job_id, "read")
    return job_public(job, placements(session, [job]).get(job.id, []))


@router.get("/{job_id}/events", response_model=list[EventPublic], responses=errors(404))
def job_events(job_id: JobIdPath, session: SessionDep, principal: PersonDep) -> list[EventPublic]:
    """The job's event log, oldest first: submitted, bound, started, ..., its end."""
    job = visible_job(session, principal, job_id, "read")
    return [event_public(row) for row in events.for_job(session, job.id)]


@router.delete("/{job_id}", response_model=JobPublic, responses=errors(404, 409))
def cancel_job(
    job_id: JobIdPath,
    session: SessionDep,
    principal: PersonDep,
    wakeup: WakeupDep,
    settings: SettingsDep,
) -> JobPublic:
    """Cancel a pending or running job (cancelling a cancelled job is a no-op)."""
    job = visible_job(session, principal, job_id, "cancel")
    job = jobs.get_for_update(session, job.id) or job  # decide on the latest committed state
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.PREEMPTED):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} already ended ({job.status}); nothing to cancel",
        )
    if job.status != JobStatus.CANCELLED:
        jobs.cancel(
            session, job, now=time.time(), by=principal.name, grace=settings.grace_seconds
        )
        session.commit()
        wakeup.notify()
    return job_public(job)


@router.get("/{job_id}/explain", response_model=ExplainPublic, responses=errors(404))
def explain_job(job_id: JobIdPath, session: SessionDep, principal: PersonDep) -> ExplainPublic:
    """Why the job waits (the last cycle's ranked reasons) or where it runs."""
    job = visible_job(session, principal, job_id, "explain")
    held = allocations.of_jobs(session, [job.id]).get(job.id, [])
    rows = queues.list_all(session)
    usage = queues.subtree_usage(rows, queues.usage(session))[job.queue]
    queue = next(row for row in rows if row.name == job.queue)
    reason = job.reason if job.status == JobStatus.PENDING else None
    summary = _summary(job, len(held))
    if job.status == JobStatus.PENDING:
        never = capacity.unresolvable(job, nodes.list_all(session), nodes.gpus_of(session))
        if never is not None:  # said at once, before (and whatever) the next cycle says
            reason, summary = never, never["summary"]
    return ExplainPublic(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        summary=summary,
        reason=reason,
        queue=job.queue,
        queue_deserved_gpus=milli_to_gpus(queue.deserved_milli),
        queue_fair_share_gpus=milli_to_gpus(queue.fair_share_milli or 0),
        queue_allocated_gpus=milli_to_gpus(usage.allocated_milli),
        allocations=[allocation_public(a) for a in held],
    )


@router.get("/{job_id}/logs", response_class=PlainTextResponse, responses=errors(404))
def job_logs(
    job_id: JobIdPath,
    session: SessionDep,
    principal: PersonDep,
    settings: SettingsDep,
    replica: Annotated[int, Query(ge=0, le=100_000)] = 0,
    tail_bytes: Annotated[int, Query(ge=1, le=64 << 20)] = 4 << 20,
    attempt: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> PlainTextResponse:
    """The captured stdout/stderr of one replica (the last `tail_bytes`) of one attempt (default:
    the latest); empty before it runs."""
    job = visible_job(session, principal, job_id, "read the logs of")
    number = max(1, job.attempts) if attempt is None else attempt
    path = logs.log_path(settings.logs_dir, job.id, replica, number)
    return PlainTextResponse(logs.read_tail(path, tail_bytes).decode(errors="replace"))


def placements(session: Session, rows: list[JobRow]) -> dict[str, list[AllocationRow]]:
    """The shares each job holds; for an ended job holding none, those of its last bind."""
    held = allocations.of_jobs(session, [row.id for row in rows])
    ended = [row.id for row in rows if row.status in FINAL_STATUSES and row.id not in held]
    held.update(allocations.last_bound(session, ended))
    return held


def visible_job(session: Session, principal: Principal, job_id: str, verb: str) -> JobRow:
    """The job, or 404 when it does not exist and 403 when it lies outside the token's queues."""
    job = jobs.get(session, job_id) if len(job_id) <= 32 else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")
    if not principal.may_use_queue(job.queue):
        raise forbidden(f"{verb} jobs of queue {job.queue!r}")
    return job


def _summary(job: JobRow, held: int) -> str:
    if job.status == JobStatus.PENDING:
        if job.reason:
            return str(job.reason.get("summary") or "waiting for the next scheduling cycle")
        return "waiting for the next scheduling cycle"
    if job.status == JobStatus.RUNNING:
        return f"running with {held} GPU share(s)"
    return f"{job.status}" + (f": {job.message}" if job.message else "")
