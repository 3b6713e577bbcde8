"""Typed dependencies, declared once: the session, the caller, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import Principal, authenticate, forbidden
from scheduler.service.settings import Settings
from scheduler.service.wakeup import Wakeup

_bearer = HTTPBearer(auto_error=False, description="An admin, user or agent token.")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request; routes commit once, anything uncommitted is rolled back.

    Cheap dependencies are `async` so they run on the event loop: a sync one costs a hop to
    the thread pool per request. Opening a session does no I/O.
    """
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return authenticate(session, credentials.credentials if credentials else None)


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


async def get_wakeup(request: Request) -> Wakeup:
    wakeup: Wakeup = request.app.state.wakeup
    return wakeup


WakeupDep = Annotated[Wakeup, Depends(get_wakeup)]
