"""Who is calling: bearer tokens looked up by their SHA-256, and the scope rules."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from scheduler.store import tokens


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: admin (everything), user (its queues) or agent (its node)."""

    token_id: int
    kind: str
    name: str
    queues: frozenset[str] = frozenset()
    node: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def may_use_queue(self, queue: str) -> bool:
        return self.is_admin or (self.kind == "user" and queue in self.queues)

    @property
    def queue_scope(self) -> list[str] | None:
        """Queues this caller may see; None means all."""
        return None if self.is_admin else sorted(self.queues)


UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="missing, invalid, expired or revoked bearer token (send 'Authorization: Bearer TOKEN')",
    headers={"WWW-Authenticate": "Bearer"},
)


def authenticate(session: Session, raw: str | None) -> Principal:
    """The principal of a bearer token; 401 for none, unknown, expired, revoked or join tokens."""
    if not raw:
        raise UNAUTHORIZED
    row = tokens.find_valid(session, raw, now=time.time())
    if row is None or row.kind == "join":
        raise UNAUTHORIZED
    return Principal(
        token_id=row.id,
        kind=row.kind,
        name=row.name,
        queues=frozenset(str(q) for q in row.queues or ()),
        node=row.node,
    )


def forbidden(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=f"this token may not {what}")
