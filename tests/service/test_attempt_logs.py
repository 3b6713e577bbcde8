"""Logs are kept per attempt; a lost node's late upload of its attempt is accepted, not lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from api.routes import agents
from scheduler.backends.standalone import logs
from scheduler.store.db import session_factory
from scheduler.store.tables import NodeRow
from tests.api.conftest import Api
from tests.service.helpers import heartbeat, job, loop, report, submit


def _upload(
    api: Api, agent: dict[str, str], node: str, job_id: str, data: bytes, query: str = ""
) -> httpx.Response:
    return api.client.post(
        f"/v1/agents/{node}/logs/{job_id}/0?offset=0{query}", content=data, headers=agent
    )


def test_a_late_upload_of_attempt_1_is_kept_after_the_job_moved(api: Api) -> None:
    api.queue("vision")
    a = api.join("node-a", gpus=1)
    job_id = submit(api)
    cycles = loop(api)
    cycles.run_once()
    heartbeat(api, a, report(job_id, "running"))
    with session_factory(api.engine)() as session:  # node-a falls silent
        session.execute(update(NodeRow).values(last_heartbeat_at=time.time() - 3600))
        session.commit()
    cycles.leading_since = time.time() - 3600
    assert cycles.run_once().lost_jobs == 1
    b = api.join("node-b", gpus=1)
    assert cycles.run_once().bound == 1
    assert job(api, job_id)["allocations"][0]["node"] == "node-b"
    assert _upload(api, b, "node-b", job_id, b"second run\n").json() == {"size": 11}
    # node-a's agent comes back and sends the rest of attempt 1's output.
    late = _upload(api, a, "node-a", job_id, b"first run\n", "&attempt=1")
    assert late.status_code == 200, late.text
    assert late.json() == {"size": 10}
    # Without an attempt an upload is for the current one, which never ran on node-a.
    assert _upload(api, a, "node-a", job_id, b"?").status_code == 404
    assert _upload(api, b, "node-b", job_id, b"?", "&attempt=1").status_code == 404
    assert _upload(api, a, "node-a", job_id, b"?", "&attempt=3").status_code == 404
    logs = f"/v1/jobs/{job_id}/logs"
    assert api.client.get(logs, headers=api.admin).text == "second run\n"
    assert api.client.get(f"{logs}?attempt=2", headers=api.admin).text == "second run\n"
    assert api.client.get(f"{logs}?attempt=1", headers=api.admin).text == "first run\n"


def test_logs_written_in_place_by_a_local_agent_are_served(api: Api) -> None:
    api.queue("vision")
    job_id = submit(api)
    assert api.client.get(f"/v1/jobs/{job_id}/logs", headers=api.admin).text == ""
    legacy = api.settings.logs_dir / job_id / "0.log"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("written by the agent\n")
    assert api.client.get(f"/v1/jobs/{job_id}/logs", headers=api.admin).text == (
        "written by the agent\n"
    )


def test_the_upload_does_its_blocking_work_off_the_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.queue("vision")
    agent = api.join("node-a", gpus=1)
    job_id = submit(api)
    loop(api).run_once()
    on_loop: list[str] = []

    def off_loop(name: str, work: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop.append(name)  # a running loop here: it would block every request
            except RuntimeError:
                pass
            return work(*args, **kwargs)

        return run

    monkeypatch.setattr(agents, "_attempt_ran_here", off_loop("check", agents._attempt_ran_here))
    monkeypatch.setattr(logs, "append", off_loop("write", logs.append))
    assert _upload(api, agent, "node-a", job_id, b"out\n").json() == {"size": 4}
    assert on_loop == []
