"""/v1/agents: join tokens, joining, heartbeats and log uploads (docs/agent-protocol.md)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, forbidden
from api.deps import (
    AdminDep,
    PrincipalDep,
    ReadSessionDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    WakeupDep,
    forget_principals,
)
from api.schemas.agents import JoinReply, JoinRequest, JoinTokenCreate, JoinTokenPublic
from api.schemas.errors import errors
from scheduler.backends.standalone import heartbeat, logs
from scheduler.protocol import MAX_ATTEMPT, Heartbeat, HeartbeatReply
from scheduler.protocol_types import INT64_MAX
from scheduler.store import events, jobs, nodes, tokens
from scheduler.store.db import Session

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
    """A token an agent trades for its node token: `uses` joins (one by default) until it expires."""
    now = time.time()
    body = body or JoinTokenCreate()
    raw, row = tokens.create(
        session,
        "join",
        now=now,
        name="join",
        ttl_seconds=body.ttl_seconds,
        uses=body.uses,
        allow_replace=body.allow_replace,
    )
    events.record(session, "token.created", at=now, data={"id": row.id, "kind": "join"})
    session.commit()
    return JoinTokenPublic(
        token=raw,
        expires_at=row.expires_at or now + body.ttl_seconds,
        uses=body.uses,
        allow_replace=body.allow_replace,
    )


@router.post(
    "/join",
    response_model=JoinReply,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 409, 413),
)
def join(
    body: JoinRequest, session: SessionDep, wakeup: WakeupDep, request: Request
) -> JoinReply:
    """Register a node (the join token is in the body) and hand back its node-scoped token.

    The name of a ready node is never taken (409); a lost one only with `replace: true` and a
    join token made with `allow_replace`.
    """
    now = time.time()
    name = body.node.name
    join_token = tokens.find_valid(session, body.join_token, now=now)
    if join_token is None or join_token.kind != "join":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or expired join token (make one with `gpusched nodes join-token`)",
        )
    _may_take_name(session, name=name, replace=body.replace, allowed=join_token.allow_replace)
    if not tokens.spend_use(session, join_token.id, now=now):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this join token is used up (make another with `gpusched nodes join-token`, "
            "or `--uses N` for several nodes)",
        )
    nodes.upsert(session, body.node, now=now)
    # One live token per node: a replacing agent's token ends the lost agent's.
    tokens.revoke_node(session, name, now=now)
    raw, _ = tokens.create(session, "agent", now=now, name=f"agent:{name}", node=name)
    if body.replace:
        events.record(session, "node.replaced", at=now, node=name)
    session.commit()
    forget_principals(request)  # the node's previous agent token was revoked
    wakeup.notify()
    return JoinReply(node=name, token=raw)


def _may_take_name(session: Session, *, name: str, replace: bool, allowed: bool) -> None:
    """Refuse a join for a name in use: always while the node is ready, else unless replacing."""
    node = nodes.get_for_update(session, name)
    if node is None:
        return
    if node.ready:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"node {name!r} is live (ready: an agent holds this name); a second agent may not "
            "take it. Stop the other agent, or join under another name (--name); a node whose "
            "agent is gone turns not ready after the node timeout, and may then be replaced",
        )
    if not replace:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"node {name!r} exists and is not ready; to take over its name, join with "
            '"replace": true and a join token made with `gpusched nodes join-token '
            "--allow-replace`",
        )
    if not allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this join token may not replace node {name!r}: make one with "
            "`gpusched nodes join-token --allow-replace`",
        )


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
        inventory=body.node,
        telemetry=samples,
        replicas=body.replicas,
        settings=settings,
        now=now,
        live=live,
    )
    session.commit()
    if outcome.wake:
        wakeup.notify()
    return HeartbeatReply(
        desired=outcome.desired,
        heartbeat_seconds=settings.heartbeat_seconds,
        fence_seconds=settings.fence_seconds,
        acknowledged=outcome.acknowledged,
    )


@router.post("/{node}/logs/{job_id}/{replica}", responses=errors(403, 404, 409, 413))
async def upload_logs(
    node: str,
    job_id: str,
    replica: Annotated[int, Path(ge=0, le=100_000)],
    request: Request,
    session: ReadSessionDep,
    _: AgentDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
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
        job = jobs.get(session, job_id)
        if job is None or job.attempts < 1:
            return None
        row = jobs.replica(session, job_id, replica)
        if attempt is None:
            attempt = row.attempt if row is not None else job.attempts
        if row is not None and row.attempt == attempt:
            return attempt if row.node == node else None
        if attempt > job.attempts:
            return None
        # Earlier attempts: each bind logged its nodes.
        return attempt if node in events.attempt_nodes(session, job_id, attempt) else None
    finally:
        session.rollback()
