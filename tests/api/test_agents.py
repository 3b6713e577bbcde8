"""The server side of the agent protocol: join, heartbeat → desired, exits, logs, nodes view."""

from __future__ import annotations

import time
from typing import Any

from scheduler.backends.standalone import apply, snapshot
from scheduler.core.decisions import Bind, CycleResult
from scheduler.core.model import GpuGrant, ReplicaPlacement
from scheduler.store.db import session_factory
from tests.api.conftest import Api, node_spec


def _heartbeat(api: Api, headers: dict[str, str], name: str = "node-a", **body: Any) -> Any:
    reply = api.client.post(
        f"/v1/agents/{name}/heartbeat",
        json={"node": node_spec(name), "telemetry": [], "replicas": [], **body},
        headers=headers,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _bind(api: Api, job_id: str, placements: tuple[ReplicaPlacement, ...]) -> None:
    """Commit a bind the way the loop does (decision → store)."""
    with session_factory(api.engine)() as session:
        state = snapshot.load(session)
        apply.write_decisions(
            session, result=CycleResult((Bind(job_id, placements),), {}), state=state, now=time.time()
        )
        session.commit()


def test_join_heartbeat_and_telemetry_show_in_nodes(api: Api) -> None:
    agent = api.join("node-a")
    sample = {
        "index": 0,
        "uuid": "GPU-node-a-0",
        "utilization": 37.0,
        "memory_used_mib": 1200,
        "temperature_c": 41,
        "power_w": 180.5,
        "xid_errors": [79],
        "healthy": False,
        "health_reason": "XID 79",
        "processes": [],
    }
    reply = _heartbeat(api, agent, telemetry=[sample])
    assert reply == {
        "desired": [], "heartbeat_seconds": 1.0, "fence_seconds": 10.0, "acknowledged": []
    }
    nodes = api.client.get("/v1/nodes", headers=api.admin).json()
    gpu = nodes[0]["gpus"][0]
    assert nodes[0]["ready"] and nodes[0]["enforcement"] == "watchdog"
    assert gpu["utilization"] == 37.0 and gpu["memory_used_mib"] == 1200
    assert gpu["healthy"] is False and gpu["health_reason"] == "XID 79"
    assert gpu["temperature_c"] == 41 and gpu["allocated_fraction"] == 0


def test_a_bound_job_is_desired_then_its_exit_is_recorded(api: Api) -> None:
    agent = api.join("node-a")
    api.queue("vision")
    job = api.client.post(
        "/v1/jobs",
        json={"queue": "vision", "gpus": 0.5, "command": ["sleep", "1"]},
        headers=api.admin,
    ).json()
    _bind(api, job["id"], (ReplicaPlacement(0, "node-a", (GpuGrant(1, 500),)),))
    desired = _heartbeat(api, agent)["desired"]
    assert len(desired) == 1
    want = desired[0]
    assert want["job_id"] == job["id"] and want["gpus"] == [
        {"index": 1, "uuid": "GPU-node-a-1", "milli": 500}
    ]
    assert want["gpu_memory_limit_mib"] == 40960 and want["master_addr"] == "node-a"
    shown = api.client.get(f"/v1/jobs/{job['id']}", headers=api.admin).json()
    assert shown["status"] == "running"
    assert shown["allocations"] == [
        {
            "replica": 0,
            "node": "node-a",
            "gpu_index": 1,
            "gpu_uuid": "GPU-node-a-1",
            "gpu_fraction": 0.5,
        }
    ]
    assert want["attempt"] == 1
    running = {"job_id": job["id"], "replica": 0, "attempt": 1, "state": "running", "pid": 42}
    _heartbeat(api, agent, replicas=[running])
    done = {**running, "state": "succeeded", "exit_code": 0}
    assert _heartbeat(api, agent, replicas=[done])["desired"] == []
    _heartbeat(api, agent, replicas=[done])  # reported again: recorded once
    final = api.client.get(f"/v1/jobs/{job['id']}", headers=api.admin).json()
    # the shares are free, and the job still says where it ran
    assert final["status"] == "succeeded" and final["allocations"] == shown["allocations"]
    assert final["started_at"] is not None
    listed = api.client.get("/v1/jobs", headers=api.admin).json()
    assert listed[0]["allocations"] == shown["allocations"]
    history = api.client.get(f"/v1/jobs/{job['id']}/events", headers=api.admin).json()
    assert [e["kind"] for e in history] == [
        "job.submitted", "job.bound", "job.started", "job.succeeded",
    ]  # fmt: skip
    bound, started = history[1], history[2]
    assert bound["data"]["nodes"] == ["node-a"]
    assert bound["data"]["allocations"] == [
        {"replica": 0, "node": "node-a", "gpu_index": 1, "gpu_uuid": "GPU-node-a-1", "milli": 500}
    ]
    assert started["node"] == "node-a" and history[-1]["data"]["status"] == "succeeded"
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    gpus = api.client.get("/v1/nodes", headers=api.admin).json()[0]["gpus"]
    assert [g["allocated_fraction"] for g in gpus] == [0, 0]
    log = api.client.post(
        f"/v1/agents/node-a/logs/{job['id']}/0?offset=0", content=b"hello\n", headers=agent
    )
    assert log.status_code == 200 and log.json() == {"size": 6}
    again = api.client.post(
        f"/v1/agents/node-a/logs/{job['id']}/0?offset=3", content=b"lo\nbye\n", headers=agent
    )
    assert again.json() == {"size": 10}
    assert api.client.get(f"/v1/jobs/{job['id']}/logs", headers=api.admin).text == "hello\nbye\n"


def test_a_failed_replica_fails_the_job(api: Api) -> None:
    agent = api.join("node-a")
    api.queue("vision")
    job = api.client.post(
        "/v1/jobs",
        json={"queue": "vision", "gpus": 1, "command": ["false"], "replicas": 2},
        headers=api.admin,
    ).json()
    _bind(
        api,
        job["id"],
        (
            ReplicaPlacement(0, "node-a", (GpuGrant(0, 1000),)),
            ReplicaPlacement(1, "node-a", (GpuGrant(1, 1000),)),
        ),
    )
    desired = _heartbeat(api, agent)["desired"]
    assert [d["replica"] for d in desired] == [0, 1] and desired[0]["replicas"] == 2
    failed = {"job_id": job["id"], "replica": 1, "attempt": 1, "state": "failed", "exit_code": 3}
    assert _heartbeat(api, agent, replicas=[failed])["desired"] == []
    final = api.client.get(f"/v1/jobs/{job['id']}", headers=api.admin).json()
    assert final["status"] == "failed" and final["exit_code"] == 3 and "code 3" in final["message"]


def test_join_tokens_and_node_tokens(api: Api) -> None:
    bad = api.client.post("/v1/agents/join", json={"join_token": "gsj_x", "node": node_spec("n")})
    assert bad.status_code == 401
    agent = api.join("node-a")
    other = api.client.post(
        "/v1/agents/node-b/heartbeat", json={"node": node_spec("node-b")}, headers=agent
    )
    assert other.status_code == 403
    mismatch = api.client.post(
        "/v1/agents/node-a/heartbeat", json={"node": node_spec("node-b")}, headers=agent
    )
    assert mismatch.status_code == 422
    assert api.client.delete("/v1/nodes/node-a/token", headers=api.admin).status_code == 204
    revoked = api.client.post(
        "/v1/agents/node-a/heartbeat", json={"node": node_spec("node-a")}, headers=agent
    )
    assert revoked.status_code == 401


def test_cordon_and_uncordon(api: Api) -> None:
    api.join("node-a")
    assert api.client.post("/v1/nodes/node-a/cordon", headers=api.admin).json()["cordoned"]
    assert not api.client.post("/v1/nodes/node-a/uncordon", headers=api.admin).json()["cordoned"]
    assert api.client.post("/v1/nodes/nope/cordon", headers=api.admin).status_code == 404


def test_metrics_show_gpu_telemetry_and_health(api: Api) -> None:
    agent = api.join("node-a", gpus=1)
    sample = {"index": 0, "utilization": 12.5, "memory_used_mib": 300}
    reply = api.client.post(
        "/v1/agents/node-a/heartbeat",
        json={"node": node_spec("node-a", gpus=1), "telemetry": [sample]},
        headers=agent,
    )
    assert reply.status_code == 200
    text = api.client.get("/metrics").text
    assert 'gpusched_gpu_utilization_percent{gpu="0",model="A100-80GB",node="node-a"} 12.5' in text
    assert 'gpusched_gpu_healthy{gpu="0",model="A100-80GB",node="node-a"} 1.0' in text
    assert "gpusched_cycle_duration_seconds" in text
    assert api.client.get("/readyz").json() == {"status": "ok"}
