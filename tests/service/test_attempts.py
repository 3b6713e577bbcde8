"""Every bind is an attempt; a report applies only to the binding of its own attempt."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from scheduler.service.loop import SchedulerLoop
from scheduler.store.db import session_factory
from scheduler.store.tables import NodeRow
from tests.api.conftest import Api
from tests.service.helpers import check, heartbeat, job, loop, report, submit


def _silence(api: Api, seconds: float) -> None:
    with session_factory(api.engine)() as session:
        session.execute(update(NodeRow).values(last_heartbeat_at=time.time() - seconds))
        session.commit()


def _bound(api: Api) -> tuple[str, dict[str, str], SchedulerLoop]:
    """A one-GPU job bound to node-a by a cycle: (its id, node-a's agent headers, the loop)."""
    api.queue("vision")
    agent = api.join("node-a", gpus=1)
    job_id = submit(api)
    cycles = loop(api)
    cycles.run_once()
    return job_id, agent, cycles


def _requeued(api: Api) -> tuple[str, dict[str, str], SchedulerLoop]:
    """A job that ran as attempt 1 on node-a, whose node then went silent: requeued, pending."""
    job_id, agent, cycles = _bound(api)
    assert heartbeat(api, agent, report(job_id, "running"))["desired"][0]["attempt"] == 1
    _silence(api, 3600)
    cycles.leading_since = time.time() - 3600
    assert cycles.run_once().lost_jobs == 1
    assert job(api, job_id)["status"] == "pending"
    return job_id, agent, cycles


def _requeued_and_bound_again(api: Api) -> tuple[str, dict[str, str], SchedulerLoop]:
    """A job whose node went silent, came back, and got the job again as attempt 2."""
    job_id, agent, cycles = _requeued(api)
    # The agent is back and still reports its adopted process of attempt 1.
    back = heartbeat(api, agent, report(job_id, "running"))
    assert back["desired"] == [] and job(api, job_id)["status"] == "pending"
    assert cycles.run_once().bound == 1
    return job_id, agent, cycles


@pytest.mark.parametrize("old_end", ["killed", "failed", "lost"])
def test_the_end_of_attempt_1_does_not_end_attempt_2(api: Api, old_end: str) -> None:
    job_id, agent, _ = _requeued_and_bound_again(api)
    reply = heartbeat(api, agent, report(job_id, old_end, attempt=1))
    assert [(d["job_id"], d["attempt"]) for d in reply["desired"]] == [(job_id, 2)]
    # Stale, yet acknowledged: the agent may forget it.
    assert reply["acknowledged"] == [{"job_id": job_id, "replica": 0, "attempt": 1}]
    shown = job(api, job_id)
    assert shown["status"] == "running" and shown["attempts"] == 2, shown
    heartbeat(api, agent, report(job_id, "running", attempt=2))
    assert job(api, job_id)["started_at"] is not None
    done = heartbeat(api, agent, report(job_id, "succeeded", attempt=2))
    assert done["acknowledged"] == [{"job_id": job_id, "replica": 0, "attempt": 2}]
    assert job(api, job_id)["status"] == "succeeded"
    check(api)


def _gpu_allocated(api: Api) -> float:
    node = api.client.get("/v1/nodes", headers=api.admin).json()[0]
    return float(node["gpus"][0]["allocated_fraction"])


def test_a_late_success_of_attempt_1_ends_the_job_and_stops_attempt_2(api: Api) -> None:
    # Attempt 1 finished while its node was silent; the job was requeued and bound again.
    job_id, agent, cycles = _requeued_and_bound_again(api)
    reply = heartbeat(
        api, agent, report(job_id, "succeeded", attempt=1), report(job_id, "running", attempt=2)
    )
    assert reply["acknowledged"] == [{"job_id": job_id, "replica": 0, "attempt": 1}]
    assert reply["desired"] == []  # attempt 2 is no longer wanted: the agent stops it
    shown = job(api, job_id)
    assert shown["status"] == "succeeded" and shown["exit_code"] == 0, shown
    assert "attempt 1 on node-a succeeded" in shown["message"] and "attempt 2" in shown["message"]
    # Attempt 2's share stays held until its process is gone, then the GPU is free.
    assert _gpu_allocated(api) == 1.0
    heartbeat(api, agent, report(job_id, "killed", attempt=2))
    assert _gpu_allocated(api) == 0.0
    assert cycles.run_once().bound == 0  # a job that succeeded is never run again
    check(api)


def test_a_late_success_ends_a_requeued_job_that_still_waits(api: Api) -> None:
    job_id, agent, cycles = _requeued(api)
    heartbeat(api, agent, report(job_id, "succeeded", attempt=1))
    assert job(api, job_id)["status"] == "succeeded"
    assert cycles.run_once().bound == 0
    check(api)


def test_a_late_success_from_a_node_the_attempt_never_ran_on_is_ignored(api: Api) -> None:
    job_id, _, _ = _requeued(api)
    other = api.join("node-b", gpus=1)
    heartbeat(api, other, report(job_id, "succeeded", attempt=1), node="node-b")
    assert job(api, job_id)["status"] in ("pending", "running")  # requeued, maybe bound anew
    check(api)


def test_a_restarted_scheduler_counts_silence_from_its_own_start(api: Api) -> None:
    job_id, agent, _ = _bound(api)
    heartbeat(api, agent, report(job_id, "running"))
    _silence(api, 3600)  # the scheduler was down for an hour; so was every heartbeat
    restarted = loop(api)
    # The new process waits for its lease (the old holder's expires), then leads.
    now = time.time() + api.settings.leader_lease_seconds + 1
    assert restarted.run_once(now=now).lost_jobs == 0
    assert job(api, job_id)["status"] == "running"
    nodes = api.client.get("/v1/nodes", headers=api.admin).json()
    assert nodes[0]["ready"] is True
    # The agent never reports again: lost one node timeout after the scheduler started leading.
    later = now + api.settings.node_timeout_seconds + 1
    assert restarted.run_once(now=later).lost_jobs == 1
    check(api)


def test_a_finished_report_for_a_running_job_is_recorded_and_acknowledged(api: Api) -> None:
    job_id, agent, _ = _bound(api)
    # The first report the scheduler sees is the exit kept on the agent's disk across an outage.
    reply = heartbeat(api, agent, report(job_id, "succeeded"))
    assert reply["acknowledged"] == [{"job_id": job_id, "replica": 0, "attempt": 1}]
    assert reply["desired"] == []
    assert job(api, job_id)["status"] == "succeeded"
    again = heartbeat(api, agent, report(job_id, "succeeded"))  # until it is acknowledged
    assert again["acknowledged"] == reply["acknowledged"]
    assert job(api, job_id)["status"] == "succeeded"
    check(api)


def test_a_report_must_name_its_attempt(api: Api) -> None:
    agent = api.join("node-a", gpus=1)
    bare = {"job_id": "x", "replica": 0, "state": "running"}
    for bad in ({}, {"attempt": 0}):
        reply = api.client.post(
            "/v1/agents/node-a/heartbeat",
            json={"node": {"name": "node-a", "cpu_millis": 1, "memory_mib": 1},
                  "replicas": [{**bare, **bad}]},
            headers=agent,
        )
        assert reply.status_code == 422, reply.text
