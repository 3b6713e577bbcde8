"""Who is calling: bearer tokens looked up by their SHA-256, and the scope rules."""

from __future__ import annotations

import threading
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
    return _authenticate(session, raw, now=time.time())[0]


def _authenticate(session: Session, raw: str | None, *, now: float) -> tuple[Principal, float | None]:
    if not raw:
        raise UNAUTHORIZED
    row = tokens.find_valid(session, raw, now=now)
    if row is None or row.kind == "join":
        raise UNAUTHORIZED
    principal = Principal(
        token_id=row.id,
        kind=row.kind,
        name=row.name,
        queues=frozenset(str(q) for q in row.queues or ()),
        node=row.node,
    )
    return principal, row.expires_at


class PrincipalCache:
    """Recently authenticated tokens, trusted for `ttl` seconds so most requests skip the lookup.

    Revoking through this process clears it at once, and so does a revocation through another
    replica when Redis is configured (its message reaches every replica); without Redis another
    replica's revocation takes effect here within `ttl`. Rejected tokens are never cached.
    """

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, float | None, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str) -> Principal | None:
        """The cached principal of `raw`, or None when unknown, stale or expired meanwhile."""
        entry = self._entries.get(raw)
        if entry is None:
            return None
        cached_at, expires_at, principal = entry
        now = time.time()
        if now - cached_at >= self.ttl or (expires_at is not None and expires_at <= now):
            return None
        return principal

    def lookup(self, session: Session, raw: str | None) -> Principal:
        """Authenticate against the store (401 as `authenticate`) and remember the answer."""
        now = time.time()
        principal, expires_at = _authenticate(session, raw, now=now)
        with self._lock:
            if len(self._entries) > 10_000:  # bounded: tokens are few, but callers may not be
                self._entries.clear()
            self._entries[raw or ""] = (now, expires_at, principal)
        return principal

    def clear(self) -> None:
        """Forget every entry (after a revocation in this process)."""
        with self._lock:
            self._entries.clear()


def forbidden(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=f"this token may not {what}")
