"""A loop, an agent's heartbeat and job reads against the test app (shared by service tests)."""

from __future__ import annotations

from typing import Any

from scheduler.metrics import ServiceMetrics
from scheduler.service.build import standalone_loop
from scheduler.service.loop import Decide, SchedulerLoop
from scheduler.store.db import session_factory
from tests.api.conftest import Api, node_spec
from tests.support import invariants


def loop(api: Api, decide: Decide | None = None) -> SchedulerLoop:
    """A standalone loop over the test app's store (deciding with `decide`, else the core)."""
    kwargs: dict[str, Any] = {} if decide is None else {"decide": decide}
    return standalone_loop(
        sessions=session_factory(api.engine),
        settings=api.settings,
        wakeup=api.client.app.state.wakeup,  # type: ignore[attr-defined]
        metrics=ServiceMetrics(),
        **kwargs,
    )


def submit(api: Api, **fields: Any) -> str:
    body = {"queue": "vision", "gpus": 1, "command": ["sleep", "1"], **fields}
    reply = api.client.post("/v1/jobs", json=body, headers=api.admin)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def job(api: Api, job_id: str) -> dict[str, Any]:
    return dict(api.client.get(f"/v1/jobs/{job_id}", headers=api.admin).json())


def heartbeat(
    api: Api, agent: dict[str, str], *reports: dict[str, Any], node: str = "node-a", gpus: int = 1
) -> dict[str, Any]:
    """One heartbeat of `node`'s agent with these replica reports (its full list)."""
    reply = api.client.post(
        f"/v1/agents/{node}/heartbeat",
        json={"node": node_spec(node, gpus), "telemetry": [], "replicas": list(reports)},
        headers=agent,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def report(job_id: str, state: str, *, attempt: int = 1, replica: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"job_id": job_id, "replica": replica, "attempt": attempt, "state": state}
    if state == "running":
        body["pid"] = 4242
    elif state in ("succeeded", "failed"):
        body["exit_code"] = 0 if state == "succeeded" else 1
    return body


def allocated(api: Api, node: str = "node-a") -> list[float]:
    nodes = api.client.get("/v1/nodes", headers=api.admin).json()
    return [gpu["allocated_fraction"] for n in nodes if n["name"] == node for gpu in n["gpus"]]


def check(api: Api) -> None:
    with session_factory(api.engine)() as session:
        assert invariants.violations(session) == []
