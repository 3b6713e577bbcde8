"""Typed dependencies, declared once: the session, the caller, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api import batching
from api.auth import Principal, PrincipalCache, forbidden
from scheduler.service.redis_link import RedisLink
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An admin, user or agent token.")


_READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; routes commit once, anything uncommitted is rolled back.

    GET and HEAD get a read-only session (`get_read_session`): on SQLite a reader then never
    queues behind, or holds up, the one writer.
    Cheap dependencies are `async` so they run on the event loop: a sync one costs a hop to
    the thread pool per request. Opening a session does no I/O.
    """
    state = request.app.state
    factory = state.read_sessions if request.method in _READ_METHODS else state.sessions
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

# Ids and names in a path: no NUL (PostgreSQL would answer 422 where SQLite finds nothing).
_NO_NUL = r"^[^\x00]+$"
JobIdPath = Annotated[str, Path(max_length=64, pattern=_NO_NUL, description="A job id.")]
NamePath = Annotated[str, Path(max_length=253, pattern=_NO_NUL, description="A name.")]


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A read-only session for any method (writing through it fails): for routes that only
    look things up, such as a log upload's check that the replica ran there."""
    with request.app.state.read_sessions() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller; a token seen within the last second is answered without a thread hop."""
    raw = credentials.credentials if credentials else None
    cache: PrincipalCache = request.app.state.principals
    principal = cache.get(raw) if raw else None
    if principal is not None:
        return principal
    return await run_in_threadpool(_lookup, request, raw)


def _lookup(request: Request, raw: str | None) -> Principal:
    cache: PrincipalCache = request.app.state.principals
    with request.app.state.read_sessions() as session:
        return cache.lookup(session, raw)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise forbidden("do this (admin only)")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


async def require_person(principal: PrincipalDep) -> Principal:
    """An admin or user token (agent tokens reach only the agent endpoints)."""
    if principal.kind not in ("admin", "user"):
        raise forbidden("use this endpoint (agent tokens reach only /v1/agents/{node}/...)")
    return principal


PersonDep = Annotated[Principal, Depends(require_person)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_submissions(request: Request) -> batching.SubmitBatcher:
    submissions: batching.SubmitBatcher = request.app.state.submissions
    return submissions


SubmissionsDep = Annotated[batching.SubmitBatcher, Depends(get_submissions)]


def forget_principals(request: Request) -> None:
    """Drop cached principals here and (through Redis) in every replica: call after revoking
    tokens so the revocation holds at once."""
    revocations: Wakeup = request.app.state.revocations
    revocations.notify()


async def get_wakeup(request: Request) -> Wakeup:
    wakeup: Wakeup = request.app.state.wakeup
    return wakeup


WakeupDep = Annotated[Wakeup, Depends(get_wakeup)]


async def get_redis(request: Request) -> RedisLink | None:
    redis: RedisLink | None = request.app.state.redis
    return redis


RedisDep = Annotated[RedisLink | None, Depends(get_redis)]
