"""/healthz, /readyz and /metrics: no token needed (probes and Prometheus scrape them)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import SessionDep
from api.schemas.errors import errors
from scheduler.metrics import ServiceMetrics
from scheduler.service import gauges
from scheduler.store import db

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses=errors(503))
def readyz(session: SessionDep) -> Response:
    """The store answers (503 otherwise)."""
    try:
        db.ping(session)
    except Exception as error:
        return JSONResponse({"status": "unavailable", "detail": str(error)}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response, responses=errors(503))
def metrics(request: Request, session: SessionDep) -> Response:
    """Prometheus text format."""
    service_metrics: ServiceMetrics = request.app.state.metrics
    gauges.refresh(session, service_metrics)
    session.rollback()
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
