"""/v1/tokens: admin and user tokens (agent tokens come from joining)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from api.deps import AdminDep, SessionDep, forget_principals
from api.schemas.agents import TokenCreate, TokenPublic
from api.schemas.errors import errors
from scheduler.protocol_types import INT64_MAX
from scheduler.store import events, queues, tokens
from scheduler.store.tables import TokenRow

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], responses=errors(401, 403, 503))


@router.post(
    "",
    response_model=TokenPublic,
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, 404, 413),
)
def create_token(body: TokenCreate, session: SessionDep, _: AdminDep) -> TokenPublic:
    """Make a token; its clear text appears in this reply only."""
    if body.kind == "user":  # (at least one queue: checked by TokenCreate)
        missing = [name for name in body.queues if queues.get(session, name) is None]
        if missing:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no such queue(s): {', '.join(map(repr, missing))}"
            )
    now = time.time()
    raw, row = tokens.create(
        session,
        body.kind,
        now=now,
        name=body.name,
        queues=body.queues if body.kind == "user" else (),
    )
    events.record(session, "token.created", at=now, data={"id": row.id, "kind": row.kind})
    session.commit()
    return _public(row, raw)


@router.get("", response_model=list[TokenPublic])
def list_tokens(session: SessionDep, _: AdminDep) -> list[TokenPublic]:
    return [_public(row) for row in tokens.list_live(session)]


@router.delete(
    "/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409)
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=INT64_MAX)],
    session: SessionDep,
    _: AdminDep,
    request: Request,
) -> Response:
    """Revoke a token; the last live admin token stays (409): without it nobody could act."""
    now = time.time()
    outcome = tokens.revoke(session, token_id, now=now)
    if outcome == "missing":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live token with id {token_id}")
    if outcome == "last-admin":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"token {token_id} is the last live admin token; revoking it would leave nobody "
            "able to administer gpusched. Make another first (`gpusched tokens create NAME "
            "--admin`), then revoke this one",
        )
    events.record(session, "token.revoked", at=now, data={"id": token_id})
    session.commit()
    forget_principals(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _public(row: TokenRow, raw: str | None = None) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        kind=row.kind,
        name=row.name,
        queues=[str(q) for q in row.queues or ()],
        node=row.node,
        created_at=row.created_at,
        expires_at=row.expires_at,
        token=raw,
    )
