"""The FastAPI application: routes, body limit, error handlers, and (optionally) the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api import openapi
from api.auth import PrincipalCache
from api.batching import SubmitBatcher
from api.limits import BodyLimitMiddleware
from api.routes import agents, health, jobs, nodes, queues, tokens
from scheduler.service.build import build_loop
from scheduler.service.loop import SchedulerLoop
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.db import make_engine, make_read_engine, session_factory, upgrade

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    run_loop: bool = False,
    migrate: bool = True,
    loop: SchedulerLoop | None = None,
) -> FastAPI:
    """Build the app on `settings.db_url` (or `engine`); `run_loop` also runs the scheduler."""
    engine = engine or make_engine(settings.db_url)
    if migrate:
        upgrade(engine)
    # A loop built by the caller (on `engine`, maybe already running) shares its parts.
    sessions = session_factory(engine)
    scheduler_loop = loop or build_loop(settings, sessions)
    wakeup = scheduler_loop.wakeup
    metrics, redis = scheduler_loop.metrics, scheduler_loop.redis
    submissions = SubmitBatcher(sessions, wakeup)
    # A token revoked through any replica is forgotten by every replica's cache at once (Redis).
    principals = PrincipalCache()
    revocations = Wakeup(
        settings.redis, channel=f"{settings.redis_prefix}tokens", on_wake=principals.clear
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(revocations.listen_redis())]
        if run_loop:
            tasks.append(asyncio.create_task(scheduler_loop.run_forever()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            submissions.close()

    app = FastAPI(
        title="gpusched",
        version="0.1.0",
        description="GPU cluster scheduler: fair-share queues, fractional GPUs, gangs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.read_sessions = session_factory(make_read_engine(engine))
    app.state.wakeup = wakeup
    app.state.redis = redis
    app.state.metrics = metrics
    app.state.loop = scheduler_loop
    app.state.principals = principals
    app.state.revocations = revocations
    app.state.submissions = submissions
    for module in (queues, jobs, nodes, agents, tokens, health):
        app.include_router(module.router)
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.max_body_bytes, log_limit=settings.max_log_upload_bytes
    )
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(OperationalError, _unavailable)
    openapi.install(app)
    return app


async def _conflict(_: Request, error: Exception) -> JSONResponse:
    log.info("integrity error: %s", error)
    return JSONResponse(
        {"detail": "the request conflicts with stored data (it changed meanwhile); retry"},
        status_code=409,
    )


async def _unstorable(_: Request, error: Exception) -> JSONResponse:
    log.info("data error: %s", error)
    return JSONResponse(
        {"detail": "the request holds a value the database cannot store (e.g. a NUL character "
         "or an out-of-range number); nothing was written"},
        status_code=422,
    )


async def _unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", error)
    return JSONResponse({"detail": "the database is unavailable; retry shortly"}, status_code=503)


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's answer, except that a 405 lists every method of the path in `Allow` (Starlette
    lists those of the first route that matched the path only)."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        path = request.url.path
        methods = sorted(
            method.upper()
            for template, operations in request.app.openapi()["paths"].items()
            if compile_path(template)[0].match(path)
            for method in operations
        )
        if methods:
            error.headers = {**(error.headers or {}), "Allow": ", ".join(methods)}
    return await http_exception_handler(request, error)


async def _invalid(_: Request, error: Exception) -> JSONResponse:
    """422 with pydantic's messages; inputs the reply cannot carry are shown as text."""
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    return JSONResponse({"detail": jsonable_encoder(_json_safe(errors))}, status_code=422)


def _json_safe(value: Any) -> Any:
    """`value` with NaN and infinity as text, and lone surrogates and raw bytes escaped (UTF-8
    JSON can carry neither: the reply itself would fail to encode)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_json_safe(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
