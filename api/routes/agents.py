"""/v1/agents: join tokens, joining, heartbeats and log uploads (docs/agent-protocol.md)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
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
    Heartbeat,
    HeartbeatReply,
    JoinReply,
    JoinRequest,
    JoinTokenCreate,
    JoinTokenPublic,
    NodeSpec,
)
from api.schemas.common import INT64_MAX
from api.schemas.errors import errors
from scheduler.inventory import GpuInventory, NodeInventory
from scheduler.service import heartbeat
from scheduler.store import events, nodes, tokens
from scheduler.store.tables import EventRow, JobRow, ReplicaRow

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=errors(401, 503))


@router.post(
    "/join-tokens",
    response_model=JoinTokenPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 403, 413),
)
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


@router.post(
    "/join",
    response_model=JoinReply,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 413),
)
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


@router.post(
    "/{node}/heartbeat", response_model=HeartbeatReply, responses=errors(400, 403, 413)
)
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
        {"desired": outcome.desired, "heartbeat_seconds": settings.heartbeat_seconds}
    )


@router.post("/{node}/logs/{job_id}/{replica}", responses=errors(403, 404, 409, 413))
async def upload_logs(
    node: str,
    job_id: str,
    replica: Annotated[int, Path(ge=0, le=100_000)],
    request: Request,
    session: SessionDep,
    _: AgentDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> dict[str, int]:
    """Append raw log bytes starting at `offset`; overlapping bytes already stored are skipped."""
    if replica < 0 or not _ran_here(session, job_id, replica, node):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"replica {replica} of job {job_id!r} never ran on {node!r}"
        )
    data = await request.body()
    path = settings.logs_dir / job_id / f"{replica}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        size = handle.tell()
        if offset > size:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"offset {offset} is past the stored end {size}; resend from {size}",
            )
        handle.write(data[size - offset :])
        return {"size": handle.tell()}


async def require_own_node(node: str, principal: PrincipalDep) -> Principal:
    """The agent token of `node` (or an admin): checked before the body is read."""
    if (principal.kind == "agent" and principal.node == node) or principal.is_admin:
        return principal
    raise forbidden(f"act as the agent of node {node!r}")


AgentDep = Annotated[Principal, Depends(require_own_node)]


def _ran_here(session: Session, job_id: str, replica: int, node: str) -> bool:
    """True when the replica is bound to `node` now or was bound there by an earlier cycle."""
    if len(job_id) > 32 or session.get(JobRow, job_id) is None:
        return False
    row = session.get(ReplicaRow, (job_id, replica))
    if row is not None:
        return row.node == node
    bound = session.scalars(
        select(EventRow.data).where(EventRow.job_id == job_id, EventRow.kind == "job.bound")
    )
    return any(node in (data or {}).get("nodes", []) for data in bound)


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
