"""/v1/nodes: nodes with their GPUs and live telemetry; cordon, uncordon, token revocation."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, Response, status

from api.deps import AdminDep, NamePath, RedisDep, SessionDep, WakeupDep, forget_principals
from api.schemas.errors import errors
from api.schemas.nodes import NodePublic
from api.views import node_public
from scheduler.store import events, nodes, tokens
from scheduler.store.tables import NodeRow

router = APIRouter(prefix="/v1/nodes", tags=["nodes"], responses=errors(401, 403, 503))


@router.get("", response_model=list[NodePublic])
def list_nodes(session: SessionDep, _: AdminDep, redis: RedisDep) -> list[NodePublic]:
    """Every node: ready, cordoned, enforcement, and each GPU's share and latest telemetry."""
    gpus = nodes.gpus_of(session)
    rows = nodes.list_all(session)
    live = redis.telemetry([row.name for row in rows]) if redis is not None else {}
    return [node_public(row, gpus.get(row.name, []), live.get(row.name)) for row in rows]


@router.get("/{name}", response_model=NodePublic, responses=errors(404))
def get_node(name: NamePath, session: SessionDep, _: AdminDep, redis: RedisDep) -> NodePublic:
    row = _existing(session, name)
    live = redis.telemetry([name]).get(name) if redis is not None else None
    return node_public(row, nodes.gpus_of(session, [name]).get(name, []), live)


@router.post("/{name}/cordon", response_model=NodePublic, responses=errors(404))
def cordon(name: NamePath, session: SessionDep, _: AdminDep, wakeup: WakeupDep) -> NodePublic:
    """Place nothing new on the node; what runs there keeps running."""
    return _set_cordon(session, wakeup, name, cordoned=True)


@router.post("/{name}/uncordon", response_model=NodePublic, responses=errors(404))
def uncordon(name: NamePath, session: SessionDep, _: AdminDep, wakeup: WakeupDep) -> NodePublic:
    return _set_cordon(session, wakeup, name, cordoned=False)


@router.delete("/{name}/token", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def revoke_node_token(
    name: NamePath, session: SessionDep, _: AdminDep, request: Request
) -> Response:
    """Revoke the node's agent token(s); the agent must join again."""
    _existing(session, name)
    now = time.time()
    count = tokens.revoke_node(session, name, now=now)
    events.record(session, "node.token_revoked", at=now, node=name, data={"tokens": count})
    session.commit()
    forget_principals(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _set_cordon(session: SessionDep, wakeup: WakeupDep, name: str, *, cordoned: bool) -> NodePublic:
    row = _existing(session, name)
    if row.cordoned != cordoned:
        row.cordoned = cordoned
        kind = "node.cordoned" if cordoned else "node.uncordoned"
        events.record(session, kind, at=time.time(), node=name)
        session.commit()
        wakeup.notify()
    return node_public(row, nodes.gpus_of(session, [name]).get(name, []))


def _existing(session: SessionDep, name: str) -> NodeRow:
    row = nodes.get(session, name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node named {name!r}")
    return row
