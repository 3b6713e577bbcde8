"""Odd input (issue 12 items 1, 10, 11) gets a 4xx naming the field, never a 500 or a write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from scheduler.core.model import GpuGrant, ReplicaPlacement
from scheduler.store.db import session_factory
from scheduler.store.tables import JobRow, QueueRow
from tests.api.conftest import Api, node_spec
from tests.api.test_agents import _bind


def _job(**fields: Any) -> dict[str, Any]:
    return {"queue": "vision", "gpus": 0.5, "command": ["python", "train.py"], **fields}


def _count(api: Api, table: Any) -> int:
    with session_factory(api.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _post_raw(api: Api, path: str, text: str) -> Any:
    """POST a JSON text as is (json= would refuse to encode a lone surrogate)."""
    headers = {**api.admin, "Content-Type": "application/json"}
    return api.client.post(path, content=text.encode(), headers=headers)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"env": {"A=B": "v"}}, "env"),
        ({"env": {"1A": "v"}}, "env"),
        ({"env": {"": "v"}}, "env"),
        ({"env": {"A\x00": "v"}}, "env"),
        ({"env": {"A": "v\x00w"}}, "env"),
        ({"command": ["python", "a\x00b"]}, "command"),
        ({"command": ["\x00"]}, "command"),
        ({"name": "r\x00"}, "name"),
    ],
)
def test_env_names_and_nul_bytes_are_refused_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    api.queue("vision")
    reply = api.client.post("/v1/jobs", json=_job(**fields), headers=api.admin)
    assert reply.status_code == 422, reply.text
    assert field in json.dumps(reply.json()["detail"])
    assert _count(api, JobRow) == 0


def test_good_env_names_are_accepted(api: Api) -> None:
    api.queue("vision")
    env = {"A": "1", "_B2": "", "cuda_x": "v=w"}
    reply = api.client.post("/v1/jobs", json=_job(env=env), headers=api.admin)
    assert reply.status_code == 201, reply.text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/v1/jobs", '{"queue": "vision", "gpus": 0.5, "command": ["\\ud800"]}'),
        ("/v1/jobs", '{"queue": "vision", "gpus": 0.5, "command": ["x"], "env": {"A": "\\udfff"}}'),
        ("/v1/jobs", '{"queue": "\\ud800", "gpus": 0.5, "command": ["x"]}'),
        ("/v1/tokens", '{"kind": "admin", "name": "\\ud800"}'),
        ("/v1/queues", '{"name": "\\ud800"}'),
    ],
)
def test_a_lone_surrogate_gets_a_json_422(api: Api, path: str, text: str) -> None:
    api.queue("vision")
    reply = _post_raw(api, path, text)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"]  # the reply itself is valid UTF-8 JSON
    assert _count(api, JobRow) == 0


def test_a_nul_in_a_token_name_is_refused(api: Api) -> None:
    reply = api.client.post(
        "/v1/tokens", json={"kind": "admin", "name": "a\x00"}, headers=api.admin
    )
    assert reply.status_code == 422 and "name" in reply.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/agents/node-a/logs/j1/{big}?offset=0",
        "/v1/agents/node-a/logs/j1/0?offset={big}",
        "/v1/agents/node-a/logs/j1/-{big}?offset=0",
    ],
)
def test_huge_integers_in_a_log_upload_get_422_and_the_connection_lives(
    api: Api, path: str
) -> None:
    agent = api.join("node-a")
    reply = api.client.post(path.format(big=2**70), content=b"x", headers=agent)
    assert reply.status_code == 422, reply.text
    assert api.client.get("/v1/queues", headers=api.admin).status_code == 200


@pytest.mark.parametrize(
    "report",
    [
        {"pid": 2**70},
        {"replica": 2**64},
        {"attempt": 2**64},
        {"exit_code": -(2**70)},
        # strict: no number from a bool or a string, no integer from a fraction
        {"over_grant": 0},
        {"pid": "12"},
        {"replica": True},
        {"pid": 12.5},
    ],
)
def test_a_heartbeat_with_huge_or_loose_numbers_gets_422(
    api: Api, report: dict[str, Any]
) -> None:
    agent = api.join("node-a")
    replica = {"job_id": "j1", "replica": 0, "attempt": 1, "state": "running", **report}
    heartbeat = {"node": node_spec("node-a"), "replicas": [replica]}
    fine = {**heartbeat, "replicas": [{**replica, **dict.fromkeys(report, 1)}]}
    fine["replicas"][0]["over_grant"] = False
    # the same report with sane values is accepted: only the bad field makes the 422
    ok = api.client.post("/v1/agents/node-a/heartbeat", json=fine, headers=agent)
    assert ok.status_code == 200, ok.text
    reply = api.client.post("/v1/agents/node-a/heartbeat", json=heartbeat, headers=agent)
    assert reply.status_code == 422, reply.text
    assert [tuple(e["loc"][-1:]) for e in reply.json()["detail"]] == [tuple(report)]
    assert api.client.get("/v1/queues", headers=api.admin).status_code == 200


def test_whole_floats_are_integers(api: Api) -> None:
    """JSON (and its schema's `integer`) does not tell 2 from 2.0; an agent may send either."""
    api.queue("vision")
    reply = api.client.post("/v1/jobs", json=_job(replicas=2.0, cpu_millis=1000.0), headers=api.admin)
    assert reply.status_code == 201, reply.text
    assert reply.json()["replicas"] == 2
    agent = api.join("node-a")
    spec = {**node_spec("node-a"), "cpu_millis": 64000.0}
    reply = api.client.post("/v1/agents/node-a/heartbeat", json={"node": spec}, headers=agent)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    "extra", [{"vendor": "a\x00"}, {"vendor": {"k\x00": 1}}, {"vendor": ["\ud800"]}]
)
def test_a_nul_in_extra_telemetry_fields_gets_422(api: Api, extra: dict[str, Any]) -> None:
    agent = api.join("node-a")
    text = json.dumps({"node": node_spec("node-a"), "telemetry": [{"index": 0, **extra}]})
    reply = api.client.post(
        "/v1/agents/node-a/heartbeat",
        content=text.encode(),
        headers={**agent, "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, reply.text
    assert "vendor" in reply.text


def test_a_chunked_log_upload_over_the_limit_gets_413(api: Api) -> None:
    agent = api.join("node-a")
    api.queue("vision")
    job = api.client.post("/v1/jobs", json=_job(), headers=api.admin).json()
    _bind(api, job["id"], (ReplicaPlacement(0, "node-a", (GpuGrant(0, 500),)),))
    limit = api.settings.max_log_upload_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    path = f"/v1/agents/node-a/logs/{job['id']}/0"
    reply = api.client.post(path, content=chunks(), headers=agent)
    assert reply.status_code == 413, reply.text


def test_huge_telemetry_integers_get_422(api: Api) -> None:
    agent = api.join("node-a")
    sample = {"index": 0, "memory_used_mib": 2**70, "processes": [{"pid": 2**70}]}
    reply = api.client.post(
        "/v1/agents/node-a/heartbeat",
        json={"node": node_spec("node-a"), "telemetry": [sample]},
        headers=agent,
    )
    assert reply.status_code == 422, reply.text


def test_a_huge_token_id_gets_422(api: Api) -> None:
    reply = api.client.delete(f"/v1/tokens/{2**70}", headers=api.admin)
    assert reply.status_code == 422, reply.text


@pytest.mark.parametrize("gpus", [1e-320, 0.0004, 5e-324])
def test_less_than_a_thousandth_of_a_gpu_is_refused(api: Api, gpus: float) -> None:
    api.queue("vision")
    reply = api.client.post("/v1/jobs", json=_job(gpus=gpus), headers=api.admin)
    assert reply.status_code == 422, reply.text
    assert "0.001" in reply.text
    assert _count(api, JobRow) == 0


@pytest.mark.parametrize(
    "fields",
    [{"deserved_gpus": 0.0001}, {"limit_gpus": 1.0005}, {"deserved_gpus": 1e-320}],
)
def test_queue_gpus_follow_the_jobs_precision_rule(api: Api, fields: dict[str, Any]) -> None:
    reply = api.client.post("/v1/queues", json={"name": "q", **fields}, headers=api.admin)
    assert reply.status_code == 422, reply.text
    assert "thousandths" in reply.text
    assert _count(api, QueueRow) == 0
    api.queue("q")
    patch = api.client.patch("/v1/queues/q", json=fields, headers=api.admin)
    assert patch.status_code == 422, patch.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/queues", {"name": "q", "limit_gpus": True}),
        ("/v1/queues", {"name": "q", "deserved_gpus": False}),
        ("/v1/queues", {"name": "q", "priority": True}),
        ("/v1/queues", {"name": "q", "over_quota_weight": True}),
        ("/v1/jobs", _job(replicas=True)),
        ("/v1/jobs", _job(cpu_millis=False)),
        ("/v1/jobs", _job(gpu_memory_mib=True, gpus=None)),
        ("/v1/jobs", _job(preemptible=1)),
        ("/v1/jobs", _job(priority="3")),
        ("/v1/agents/join-tokens", {"ttl_seconds": True}),
    ],
)
def test_booleans_and_strings_are_not_numbers(api: Api, path: str, body: dict[str, Any]) -> None:
    api.queue("vision")
    reply = api.client.post(path, json=body, headers=api.admin)
    assert reply.status_code == 422, reply.text


def test_a_chunked_body_over_the_limit_gets_413(api: Api) -> None:
    limit = api.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"queue": "vision", "command": ["'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'"], "gpus": 1}'

    reply = api.client.post(
        "/v1/jobs", content=chunks(), headers={**api.admin, "Content-Type": "application/json"}
    )
    assert reply.status_code == 413, reply.text
    assert str(limit) in reply.json()["detail"]


def test_a_gang_the_whole_cluster_could_never_hold_is_unresolvable_at_once(api: Api) -> None:
    api.queue("vision")
    api.join("node-a", gpus=8)
    api.join("node-b", gpus=8)
    body = _job(gpus=8, replicas=10_000)
    reply = api.client.post("/v1/jobs", json=body, headers=api.admin)
    assert reply.status_code == 201, reply.text  # nodes may still join: it is kept
    explain = api.client.get(f"/v1/jobs/{reply.json()['id']}/explain", headers=api.admin).json()
    assert explain["reason"]["kind"] == "unresolvable"
    # 10000 replicas x 8 GPUs = 80000 GPUs asked; 2 nodes x 8 GPUs = 16 in the cluster
    assert "80000 GPUs" in explain["summary"] and "16" in explain["summary"]
    # each 8-GPU node holds one replica: 2 of the 10000 fit
    assert explain["reason"]["items"][0]["data"] == {
        "asked_gpus": 80000.0, "cluster_gpus": 16.0, "nodes": 2, "replicas": 10000,
        "replicas_fit": 2,
    }


def test_a_gang_that_fits_the_cluster_is_not_called_unresolvable(api: Api) -> None:
    api.queue("vision")
    api.join("node-a", gpus=8)
    api.join("node-b", gpus=8)
    reply = api.client.post("/v1/jobs", json=_job(gpus=8, replicas=2), headers=api.admin)
    explain = api.client.get(f"/v1/jobs/{reply.json()['id']}/explain", headers=api.admin).json()
    assert explain["reason"] is None or explain["reason"]["kind"] != "unresolvable"


@pytest.mark.parametrize(
    "path",
    ["/v1/jobs/%00", "/v1/jobs/a%00/explain", "/v1/queues/%00", "/v1/nodes/%00", "/v1/jobs?queue=%00"],
)
def test_a_nul_in_a_path_or_query_is_422_on_both_databases(api: Api, path: str) -> None:
    reply = api.client.get(path, headers=api.admin)
    assert reply.status_code == 422, reply.text
    assert api.client.get("/v1/queues", headers=api.admin).status_code == 200
