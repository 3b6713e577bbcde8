"""/v1/agents: join tokens, joining, heartbeats and log uploads (docs/agent-protocol.md)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, forbidden
from api.deps import (
    AdminDep,
    PrincipalDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    WakeupDep,
    forget_principals,
)
from api.schemas.agents import (
    MAX_ATTEMPT,
    Heartbeat,
    HeartbeatReply,
    JoinReply,
    JoinRequest,
    JoinTokenCreate,
    JoinTokenPublic,
    NodeSpec,
)
from scheduler.inventory import GpuInventory, NodeInventory
from scheduler.service import heartbeat, logs
from scheduler.store import events, nodes, tokens
from scheduler.store.tables import EventRow, JobRow, ReplicaRow

router = APIRouter(prefix="/v1/agents", tags=["agents"])
MAX_OFFSET = 1 << 62


@router.post("/join-tokens", response_model=JoinTokenPublic, status_code=status.HTTP_201_CREATED)
def create_join_token(
    session: SessionDep, _: AdminDep, body: JoinTokenCreate | None = None
) -> JoinTokenPublic:
    """A token an agent trades for its node token (reusable until it expires)."""
    now = time.time()
    ttl = (body or JoinTokenCreate()).ttl_seconds
    raw, row = tokens.create(session, "join", now=now, name="join", ttl_seconds=ttl)
    events.record(session, "token.created", at=now, data={"id": row.id, "kind": "join"})
    session.commit()
    return JoinTokenPublic(token=raw, expires_at=row.expires_at or now + ttl)


@router.post("/join", response_model=JoinReply, status_code=status.HTTP_201_CREATED)
def join(
    body: JoinRequest, session: SessionDep, wakeup: WakeupDep, request: Request
) -> JoinReply:
    """Register a node (the join token is in the body) and hand back its node-scoped token."""
    now = time.time()
    join_token = tokens.find_valid(session, body.join_token, now=now)
    if join_token is None or join_token.kind != "join":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or expired join token (make one with `gpusched nodes join-token`)",
        )
    nodes.upsert(session, _inventory(body.node), now=now)
    # One live token per node: a rejoining agent replaces the old one.
    tokens.revoke_node(session, body.node.name, now=now)
    raw, _ = tokens.create(
        session, "agent", now=now, name=f"agent:{body.node.name}", node=body.node.name
    )
    session.commit()
    forget_principals(request)  # the node's previous agent token was revoked
    wakeup.notify()
    return JoinReply(node=body.node.name, token=raw)


@router.post("/{node}/heartbeat", response_model=HeartbeatReply)
def post_heartbeat(
    node: str,
    body: Heartbeat,
    session: SessionDep,
    _: AgentDep,
    settings: SettingsDep,
    wakeup: WakeupDep,
    redis: RedisDep,
) -> HeartbeatReply:
    """Store what the agent sees; reply with what should run on its node now."""
    if body.node.name != node:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the body describes node {body.node.name!r} but the path says {node!r}",
        )
    now = time.time()
    samples = nodes.finite([sample.model_dump() for sample in body.telemetry])
    # Live readings expire a few missed heartbeats after the agent goes quiet.
    ttl = max(3.0, 3 * settings.heartbeat_seconds)
    live = redis is not None and redis.put_telemetry(node, samples, now=now, ttl=ttl)
    outcome = heartbeat.handle(
        session,
        inventory=_inventory(body.node),
        telemetry=samples,
        replicas=[report.model_dump() for report in body.replicas],
        settings=settings,
        now=now,
        live=live,
    )
    session.commit()
    if outcome.wake:
        wakeup.notify()
    return HeartbeatReply.model_validate(
        {
            "desired": outcome.desired,
            "heartbeat_seconds": settings.heartbeat_seconds,
            "fence_seconds": settings.fence_seconds,
            "acknowledged": outcome.acknowledged,
        }
    )


@router.post("/{node}/logs/{job_id}/{replica}")
async def upload_logs(
    node: str,
    job_id: str,
    replica: int,
    request: Request,
    session: SessionDep,
    _: AgentDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    attempt: Annotated[int | None, Query(ge=1, le=MAX_ATTEMPT)] = None,
) -> dict[str, int]:
    """Append raw log bytes of one attempt (default: the replica's current one) starting at
    `offset`; overlapping bytes already stored are skipped. An attempt that ran here earlier may
    still upload (its log is kept beside the newer attempts')."""
    # The database and the file are blocking work: off the event loop, which serves everyone.
    ran = await run_in_threadpool(_attempt_ran_here, session, job_id, replica, node, attempt)
    if ran is None:
        which = "" if attempt is None else f" (attempt {attempt})"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"replica {replica} of job {job_id!r}{which} never ran on {node!r}",
        )
    data = await request.body()
    path = logs.log_path(settings.logs_dir, job_id, replica, ran)
    try:
        size = await run_in_threadpool(logs.append, path, data, offset=offset)
    except logs.OffsetPastEnd as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return {"size": size}


async def require_own_node(node: str, principal: PrincipalDep) -> Principal:
    """The agent token of `node` (or an admin): checked before the body is read."""
    if (principal.kind == "agent" and principal.node == node) or principal.is_admin:
        return principal
    raise forbidden(f"act as the agent of node {node!r}")


AgentDep = Annotated[Principal, Depends(require_own_node)]


def _attempt_ran_here(
    session: Session, job_id: str, replica: int, node: str, attempt: int | None
) -> int | None:
    """The attempt (`attempt`, or by default the replica's current one) if that attempt of the
    replica was bound to `node`, else None. Ends the read transaction (no lock is kept)."""
    try:
        if replica < 0 or len(job_id) > 32:
            return None
        job = session.get(JobRow, job_id)
        if job is None or job.attempts < 1:
            return None
        row = session.get(ReplicaRow, (job_id, replica))
        if attempt is None:
            attempt = row.attempt if row is not None else job.attempts
        if row is not None and row.attempt == attempt:
            return attempt if row.node == node else None
        if attempt > job.attempts:
            return None
        # Earlier attempts: each bind logged its nodes (the n-th bind is attempt n).
        bound = session.scalars(
            select(EventRow.data)
            .where(EventRow.job_id == job_id, EventRow.kind == "job.bound")
            .order_by(EventRow.id)
        ).all()
        for number, data in enumerate(bound, start=1):
            if int((data or {}).get("attempt", number)) == attempt:
                return attempt if node in (data or {}).get("nodes", []) else None
        return None
    finally:
        session.rollback()


def _inventory(spec: NodeSpec) -> NodeInventory:
    return NodeInventory(
        name=spec.name,
        cpu_millis=spec.cpu_millis,
        memory_mib=spec.memory_mib,
        labels=dict(spec.labels),
        enforcement=spec.enforcement,
        gpus=tuple(
            GpuInventory(
                index=g.index,
                uuid=g.uuid,
                model=g.model,
                memory_mib=g.memory_mib,
                compute_capability=g.compute_capability,
                mig_mode=g.mig_mode,
            )
            for g in spec.gpus
        ),
    )
