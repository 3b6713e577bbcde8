"""Submitting, listing, reading and cancelling jobs; bad input is refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler.store.db import session_factory
from scheduler.store.tables import EventRow, JobRow
from tests.api.conftest import Api


def _job(**fields: Any) -> dict[str, Any]:
    return {"queue": "vision", "gpus": 0.5, "command": ["python", "train.py"], **fields}


def _count_jobs(api: Api) -> int:
    with session_factory(api.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(JobRow)) or 0)


def test_submit_returns_a_pending_job(api: Api) -> None:
    api.queue("vision", deserved_gpus=4)
    reply = api.client.post("/v1/jobs", json=_job(name="r50", env={"A": "1"}), headers=api.admin)
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert job["status"] == "pending" and job["gpus"] == 0.5 and job["allocations"] == []
    assert job["command"] == ["python", "train.py"] and job["env"] == {"A": "1"}
    again = api.client.get(f"/v1/jobs/{job['id']}", headers=api.admin).json()
    assert again["id"] == job["id"] and again["name"] == "r50"
    with session_factory(api.engine)() as session:
        kinds = session.scalars(select(EventRow.kind).where(EventRow.job_id == job["id"])).all()
    assert kinds == ["job.submitted"]


def test_a_retried_submit_with_the_same_key_returns_the_same_job(api: Api) -> None:
    api.queue("vision")
    headers = {**api.admin, "Idempotency-Key": "abc-1"}
    first = api.client.post("/v1/jobs", json=_job(), headers=headers)
    second = api.client.post("/v1/jobs", json=_job(), headers=headers)
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert _count_jobs(api) == 1
    other = api.client.post("/v1/jobs", json=_job(gpus=1), headers=headers)
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert _count_jobs(api) == 1


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        (0, "fraction in (0, 1) or a whole number"),
        (1.5, "not whole"),
        (-1, "fraction in (0, 1) or a whole number"),
        ("abc", "fraction in (0, 1) or a whole number"),
        (True, "fraction in (0, 1) or a whole number"),
        (0.0001, "thousandths"),
    ],
)
def test_invalid_gpu_counts_are_refused_with_a_message(api: Api, gpus: Any, expected: str) -> None:
    api.queue("vision")
    reply = api.client.post("/v1/jobs", json=_job(gpus=gpus), headers=api.admin)
    assert reply.status_code == 422
    assert expected in reply.text
    assert _count_jobs(api) == 0


def test_nan_gpus_is_refused(api: Api) -> None:
    api.queue("vision")
    body = '{"queue": "vision", "gpus": NaN, "command": ["x"]}'
    reply = api.client.post(
        "/v1/jobs", content=body, headers={**api.admin, "Content-Type": "application/json"}
    )
    assert reply.status_code == 422 and "gpus" in reply.text
    assert _count_jobs(api) == 0


def test_unknown_queue_is_refused(api: Api) -> None:
    reply = api.client.post("/v1/jobs", json=_job(queue="nope"), headers=api.admin)
    assert reply.status_code == 404 and "queue 'nope' does not exist" in reply.json()["detail"]


def test_a_parent_queue_takes_no_jobs(api: Api) -> None:
    api.queue("org")
    api.queue("vision", parent="org")
    reply = api.client.post("/v1/jobs", json=_job(queue="org"), headers=api.admin)
    assert reply.status_code == 409 and "leaf" in reply.json()["detail"]


def test_a_request_larger_than_any_node_is_refused(api: Api) -> None:
    api.queue("vision")
    api.join("node-a", gpus=2)
    reply = api.client.post("/v1/jobs", json=_job(gpus=4), headers=api.admin)
    assert reply.status_code == 409
    assert "larger than any node" in reply.json()["detail"] and "largest node has 2" in reply.text
    fits = api.client.post("/v1/jobs", json=_job(gpus=2, replicas=3), headers=api.admin)
    assert fits.status_code == 201
    assert _count_jobs(api) == 1


def test_an_oversized_body_gets_413(api: Api) -> None:
    api.queue("vision")
    body = _job(env={"BIG": "x" * (1 << 20)})
    reply = api.client.post("/v1/jobs", json=body, headers=api.admin)
    assert reply.status_code == 413 and "too large" in reply.json()["detail"]
    assert _count_jobs(api) == 0


def test_list_filters_and_pages(api: Api) -> None:
    api.queue("vision")
    api.queue("nlp")
    ids = [
        api.client.post("/v1/jobs", json=_job(queue=q), headers=api.admin).json()["id"]
        for q in ("vision", "vision", "nlp")
    ]
    api.client.delete(f"/v1/jobs/{ids[0]}", headers=api.admin)
    vision = api.client.get("/v1/jobs?queue=vision", headers=api.admin)
    assert vision.headers["X-Total-Count"] == "2" and len(vision.json()) == 2
    pending = api.client.get("/v1/jobs?status=pending", headers=api.admin).json()
    assert {j["id"] for j in pending} == {ids[1], ids[2]}
    page = api.client.get("/v1/jobs?limit=1&offset=1", headers=api.admin)
    assert len(page.json()) == 1 and page.headers["X-Total-Count"] == "3"
    bad = api.client.get("/v1/jobs?status=sleeping", headers=api.admin)
    assert bad.status_code == 422


def test_cancel_is_idempotent_and_final(api: Api) -> None:
    api.queue("vision")
    job = api.client.post("/v1/jobs", json=_job(), headers=api.admin).json()
    first = api.client.delete(f"/v1/jobs/{job['id']}", headers=api.admin)
    second = api.client.delete(f"/v1/jobs/{job['id']}", headers=api.admin)
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert api.client.delete("/v1/jobs/nope", headers=api.admin).status_code == 404


def test_explain_and_logs_of_a_waiting_job(api: Api) -> None:
    api.queue("vision", deserved_gpus=2)
    job = api.client.post("/v1/jobs", json=_job(), headers=api.admin).json()
    explain = api.client.get(f"/v1/jobs/{job['id']}/explain", headers=api.admin).json()
    assert explain["status"] == "pending" and explain["queue_deserved_gpus"] == 2
    logs = api.client.get(f"/v1/jobs/{job['id']}/logs", headers=api.admin)
    assert logs.status_code == 200 and logs.text == ""
    (api.settings.logs_dir / job["id"]).mkdir(parents=True)
    (api.settings.logs_dir / job["id"] / "0.log").write_text("epoch 1\n")
    assert api.client.get(f"/v1/jobs/{job['id']}/logs", headers=api.admin).text == "epoch 1\n"


def test_a_nul_character_is_refused_without_a_500(api: Api) -> None:
    api.queue("vision")
    reply = api.client.post("/v1/jobs", json=_job(command=["echo", "a\u0000b"]), headers=api.admin)
    assert reply.status_code == 422  # on both databases: no runner could exec it
    assert reply.json()["detail"][0]["loc"] == ["body", "command", 1]
    assert "NUL" in reply.json()["detail"][0]["msg"]
    assert _count_jobs(api) == 0


def test_events_have_the_scope_of_the_job(api: Api) -> None:
    api.queue("vision")
    api.queue("nlp")
    job = api.client.post("/v1/jobs", json=_job(), headers=api.admin).json()
    api.client.delete(f"/v1/jobs/{job['id']}", headers=api.admin)
    vision = api.token("user", queues=["vision"])
    nlp = api.token("user", queues=["nlp"])
    history = api.client.get(f"/v1/jobs/{job['id']}/events", headers=vision)
    assert history.status_code == 200, history.text
    kinds = [(e["kind"], e["node"]) for e in history.json()]
    assert kinds == [("job.submitted", None), ("job.cancelled", None)]
    assert history.json()[1]["data"]["from"] == "pending"
    refused = api.client.get(f"/v1/jobs/{job['id']}/events", headers=nlp)
    assert refused.status_code == 403 and "queue 'vision'" in refused.json()["detail"]
    missing = api.client.get("/v1/jobs/nope/events", headers=api.admin)
    assert missing.status_code == 404
    # cancelled before it ran: no bind, so nowhere it ran
    assert api.client.get(f"/v1/jobs/{job['id']}", headers=vision).json()["allocations"] == []
