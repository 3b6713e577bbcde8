"""The loop with the real core: snapshot → run_cycle → one commit; leader lease; lost nodes."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from scheduler.core.config import CycleConfig
from scheduler.core.decisions import Bind, CycleResult
from scheduler.core.model import GpuGrant, ReplicaPlacement, Snapshot
from scheduler.service.lease import NotLeader
from scheduler.store.db import session_factory
from scheduler.store.tables import LeaseRow, NodeRow
from tests.api.conftest import Api
from tests.service.helpers import check, submit
from tests.service.helpers import job as job_of
from tests.service.helpers import loop as make_loop


def test_two_half_gpu_jobs_share_one_gpu_and_a_third_waits_with_a_reason(api: Api) -> None:
    api.queue("vision", deserved_gpus=1)
    api.join("node-a", gpus=1)
    ids = [submit(api, gpus=0.5) for _ in range(3)]
    report = make_loop(api).run_once()
    assert report.leader and report.bound == 2 and report.pending == 1
    jobs = [job_of(api, i) for i in ids]
    running = [j for j in jobs if j["status"] == "running"]
    assert len(running) == 2
    assert {a["gpu_uuid"] for j in running for a in j["allocations"]} == {"GPU-node-a-0"}
    waiting = next(j for j in jobs if j["status"] == "pending")
    assert waiting["reason"] and waiting["reason"]["summary"]
    explain = api.client.get(f"/v1/jobs/{waiting['id']}/explain", headers=api.admin).json()
    assert explain["summary"] == waiting["reason"]["summary"]
    gpu = api.client.get("/v1/nodes", headers=api.admin).json()[0]["gpus"][0]
    assert gpu["allocated_fraction"] == 1.0
    queue = api.client.get("/v1/queues/vision", headers=api.admin).json()
    assert queue["allocated_gpus"] == 1.0 and queue["pending_jobs"] == 1
    check(api)


def test_only_the_lease_holder_commits(api: Api) -> None:
    api.queue("vision")
    api.join("node-a", gpus=1)
    first, second = make_loop(api), make_loop(api)
    assert first.run_once().leader
    assert not second.run_once().leader
    job = submit(api, gpus=0.5)
    # The lease passes to `second` while `first` is deciding: `first` must not commit.
    decided = first.decide

    def steal_then_decide(snapshot: Snapshot, config: CycleConfig, now: float) -> CycleResult:
        with session_factory(api.engine)() as session:
            session.execute(update(LeaseRow).values(holder=second.holder))
            session.commit()
        return decided(snapshot, config, now)

    first.decide = steal_then_decide
    with pytest.raises(NotLeader):
        first.run_once()
    assert job_of(api, job)["status"] == "pending"
    assert second.run_once().bound == 1
    check(api)


def test_a_stale_decision_cannot_over_allocate_a_gpu(api: Api) -> None:
    api.queue("vision")
    api.join("node-a", gpus=1)
    a, b = submit(api), submit(api)

    def greedy(snapshot: Snapshot, config: CycleConfig, now: float) -> CycleResult:
        whole = (GpuGrant(0, 1000),)
        binds = tuple(Bind(j, (ReplicaPlacement(0, "node-a", whole),)) for j in (a, b))
        return CycleResult(binds, {})

    with pytest.raises(IntegrityError):
        make_loop(api, greedy).run_once()
    assert {job_of(api, a)["status"], job_of(api, b)["status"]} == {"pending"}
    check(api)


@pytest.mark.parametrize(("requeue", "expected"), [(True, "pending"), (False, "failed")])
def test_jobs_on_a_silent_node_are_lost(api: Api, requeue: bool, expected: str) -> None:
    api.queue("vision")
    api.join("node-a", gpus=1)
    job = submit(api, gpus=0.5, requeue=requeue)
    loop = make_loop(api)
    assert loop.run_once().bound == 1
    with session_factory(api.engine)() as session:
        session.execute(update(NodeRow).values(last_heartbeat_at=time.time() - 3600))
        session.commit()
    # This loop has led for an hour by then: the silence counts from its start at the earliest.
    report = loop.run_once(now=time.time() + 3600)
    assert report.lost_jobs == 1
    shown = job_of(api, job)
    assert shown["status"] == expected and "heartbeats" in shown["message"]
    node = api.client.get("/v1/nodes", headers=api.admin).json()[0]
    assert node["ready"] is False and node["gpus"][0]["allocated_fraction"] == 0
    check(api)
