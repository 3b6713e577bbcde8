"""/v1/queues: the queue tree and its live numbers."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Response, status

from api.auth import forbidden
from api.deps import AdminDep, NamePath, PersonDep, SessionDep, WakeupDep
from api.schemas.errors import errors
from api.schemas.queues import QueueCreate, QueuePublic, QueueUpdate
from api.views import queue_public
from scheduler.core.model import gpus_to_milli
from scheduler.store import events, queues
from scheduler.store.tables import QueueRow

router = APIRouter(prefix="/v1/queues", tags=["queues"], responses=errors(401, 403, 503))


@router.get("", response_model=list[QueuePublic])
def list_queues(session: SessionDep, principal: PersonDep) -> list[QueuePublic]:
    """Every queue (a user token sees its own), with deserved, fair-share and allocated GPUs."""
    rows = queues.list_all(session)
    totals = queues.subtree_usage(rows, queues.usage(session))
    return [
        queue_public(row, totals[row.name]) for row in rows if principal.may_use_queue(row.name)
    ]


@router.get("/{name}", response_model=QueuePublic, responses=errors(404))
def get_queue(name: NamePath, session: SessionDep, principal: PersonDep) -> QueuePublic:
    if not principal.may_use_queue(name):
        raise forbidden(f"read queue {name!r}")
    row = _existing(session, name)
    totals = queues.subtree_usage(queues.list_all(session), queues.usage(session))
    return queue_public(row, totals[row.name])


@router.post(
    "",
    response_model=QueuePublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 404, 409, 413),
)
def create_queue(
    body: QueueCreate, session: SessionDep, _: AdminDep, wakeup: WakeupDep
) -> QueuePublic:
    now = time.time()
    if queues.get(session, body.name) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"queue {body.name!r} already exists")
    if body.parent is not None:
        _check_parent(session, body.parent)
    row = QueueRow(
        name=body.name,
        parent=body.parent,
        deserved_milli=gpus_to_milli(body.deserved_gpus),
        limit_milli=None if body.limit_gpus is None else gpus_to_milli(body.limit_gpus),
        over_quota_weight=body.over_quota_weight,
        priority=body.priority,
        fair_share_milli=0,
        created_at=now,
    )
    session.add(row)
    events.record(session, "queue.created", at=now, data=body.model_dump())
    session.commit()
    wakeup.notify()
    return queue_public(row, queues.QueueUsage())


@router.patch("/{name}", response_model=QueuePublic, responses=errors(400, 404, 409, 413))
def update_queue(
    name: NamePath, body: QueueUpdate, session: SessionDep, _: AdminDep, wakeup: WakeupDep
) -> QueuePublic:
    row = _existing(session, name)
    changes = body.model_dump(exclude_unset=True)
    if "parent" in changes and changes["parent"] is not None:
        if queues.is_ancestor(session, name, changes["parent"]):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"queue {changes['parent']!r} is {name!r} or below it: the tree would loop",
            )
        _check_parent(session, changes["parent"])
    if "parent" in changes:
        row.parent = changes["parent"]
    if changes.get("deserved_gpus") is not None:
        row.deserved_milli = gpus_to_milli(changes["deserved_gpus"])
    if "limit_gpus" in changes:
        limit = changes["limit_gpus"]
        row.limit_milli = None if limit is None else gpus_to_milli(limit)
    if changes.get("over_quota_weight") is not None:
        row.over_quota_weight = changes["over_quota_weight"]
    if changes.get("priority") is not None:
        row.priority = changes["priority"]
    events.record(session, "queue.updated", at=time.time(), data={"name": name, **changes})
    session.commit()
    wakeup.notify()
    totals = queues.subtree_usage(queues.list_all(session), queues.usage(session))
    return queue_public(row, totals[row.name])


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_queue(name: NamePath, session: SessionDep, _: AdminDep) -> Response:
    row = _existing(session, name)
    if queues.children(session, name):
        raise HTTPException(status.HTTP_409_CONFLICT, f"queue {name!r} has child queues")
    jobs = queues.jobs_in(session, name)
    if jobs:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"queue {name!r} holds {jobs} jobs; it keeps their history"
        )
    session.delete(row)
    events.record(session, "queue.deleted", at=time.time(), data={"name": name})
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _existing(session: SessionDep, name: str) -> QueueRow:
    row = queues.get(session, name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no queue named {name!r}")
    return row


def _check_parent(session: SessionDep, parent: str) -> None:
    if queues.get(session, parent) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"parent queue {parent!r} does not exist")
    holds = queues.jobs_in(session, parent)
    if holds:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"queue {parent!r} holds jobs, so it cannot become a parent (jobs live in leaves)",
        )
