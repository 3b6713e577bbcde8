"""A share is free only when its process is gone: cancel, eviction and a gang's failure hold it
until the agent reports the replica gone (or its node is lost)."""

from __future__ import annotations

import re
import time

from sqlalchemy import update

from scheduler.backends.standalone import apply, snapshot
from scheduler.core.decisions import CycleResult, Evict
from scheduler.service.loop import SchedulerLoop
from scheduler.store.db import session_factory
from scheduler.store.tables import JobRow, NodeRow
from tests.api.conftest import Api
from tests.service.helpers import allocated, check, heartbeat, job, loop, report, submit


def _cancel_running_and_queue_another(
    api: Api,
) -> tuple[str, str, dict[str, str], SchedulerLoop]:
    api.queue("vision")
    agent = api.join("node-a", gpus=1)
    first = submit(api)
    cycles = loop(api)
    assert cycles.run_once().bound == 1
    heartbeat(api, agent, report(first, "running"))
    assert api.client.delete(f"/v1/jobs/{first}", headers=api.admin).json()["status"] == "cancelled"
    second = submit(api)
    assert cycles.run_once().bound == 0
    return first, second, agent, cycles


def test_a_cancelled_job_keeps_its_gpu_until_the_agent_reports_it_killed(api: Api) -> None:
    first, second, agent, cycles = _cancel_running_and_queue_another(api)
    # SIGTERM is trapped: the process may run for its whole grace, so the GPU is not free.
    assert allocated(api) == [1.0]
    waiting = job(api, second)
    assert waiting["status"] == "pending"
    assert re.fullmatch(
        rf"waiting for {first} to stop \(grace (29|30) s\)", waiting["reason"]["summary"]
    ), waiting["reason"]
    assert waiting["reason"]["items"][0]["code"] == "held"
    check(api)
    # Still running on the node: still held; the reply no longer wants it (the agent stops it).
    still = heartbeat(api, agent, report(first, "running"))
    assert still["desired"] == [] and still["acknowledged"] == []
    assert allocated(api) == [1.0]
    gone = heartbeat(api, agent, report(first, "killed"))
    assert gone["acknowledged"] == [{"job_id": first, "replica": 0, "attempt": 1}]
    assert allocated(api) == [0.0]
    assert job(api, first)["status"] == "cancelled"  # the report of an ended job changes nothing
    assert cycles.run_once().bound == 1
    assert job(api, second)["status"] == "running"
    check(api)


def test_a_full_report_without_the_replica_frees_its_share(api: Api) -> None:
    _, second, agent, cycles = _cancel_running_and_queue_another(api)
    heartbeat(api, agent)  # the agent no longer knows the replica: its process is gone
    assert allocated(api) == [0.0]
    assert cycles.run_once().bound == 1
    assert job(api, second)["status"] == "running"
    check(api)


def test_a_lost_node_gives_back_what_was_held_there(api: Api) -> None:
    *_, cycles = _cancel_running_and_queue_another(api)
    with session_factory(api.engine)() as session:
        session.execute(update(NodeRow).values(last_heartbeat_at=time.time() - 3600))
        session.commit()
    cycles.leading_since = time.time() - 3600  # this scheduler has led all along
    assert cycles.run_once().lost_jobs == 0  # the cancelled job was no longer running there
    assert allocated(api) == [0.0]
    check(api)


def test_an_evicted_job_holds_its_share_until_it_stopped(api: Api) -> None:
    api.queue("vision")
    agent = api.join("node-a", gpus=1)
    victim = submit(api, requeue=False)
    loop(api).run_once()
    heartbeat(api, agent, report(victim, "running"))
    with session_factory(api.engine)() as session:
        state = snapshot.load(session)
        evict = Evict(victim, "preempt", "evicted for a higher priority job")
        applied = apply.write_decisions(
            session, result=CycleResult((evict,), {}), state=state, now=time.time(), grace=5
        )
        session.commit()
    assert applied.evicted == [(victim, "preempt")]
    assert job(api, victim)["status"] == "preempted"
    assert allocated(api) == [1.0]
    with session_factory(api.engine)() as session:
        held = snapshot.load(session).snapshot.held
    assert [(h.owner, h.node, [g.milli for g in h.gpus]) for h in held] == [
        (victim, "node-a", [1000])
    ]
    assert 0 < held[0].stopping_until - time.time() <= 5
    heartbeat(api, agent, report(victim, "killed"))
    assert allocated(api) == [0.0]
    check(api)


def test_a_gang_whose_replica_failed_holds_the_others_shares(api: Api) -> None:
    api.queue("vision")
    agent = api.join("node-a", gpus=2)
    gang = submit(api, replicas=2)
    loop(api).run_once()
    both = [report(gang, "running", replica=r) for r in (0, 1)]
    heartbeat(api, agent, *both, gpus=2)
    failed = heartbeat(api, agent, both[0], report(gang, "failed", replica=1), gpus=2)
    assert failed["acknowledged"] == [{"job_id": gang, "replica": 1, "attempt": 1}]
    assert job(api, gang)["status"] == "failed"
    # Replica 1 has exited: its GPU is free. Replica 0 is being stopped: its GPU is not.
    assert sorted(allocated(api)) == [0.0, 1.0]
    heartbeat(api, agent, report(gang, "killed", replica=0), gpus=2)
    assert allocated(api) == [0.0, 0.0]
    check(api)


def test_a_preemptor_waits_for_its_victim_to_stop_and_evicts_no_one_else(api: Api) -> None:
    api.queue("vision")
    agent = api.join("node-a", gpus=2)
    low = [submit(api, priority=0) for _ in range(2)]
    cycles = loop(api)
    assert cycles.run_once().bound == 2
    heartbeat(api, agent, *(report(j, "running") for j in low), gpus=2)
    with session_factory(api.engine)() as session:  # past the victims' minimum runtime
        session.execute(update(JobRow).values(started_at=time.time() - 120))
        session.commit()
    high = submit(api, priority=10)
    first = cycles.run_once()
    assert first.evicted == 1 and first.bound == 0  # room is made, but not yet free
    victim = next(j for j in low if job(api, j)["status"] == "pending")
    survivor = next(j for j in low if j != victim)
    assert sorted(allocated(api)) == [1.0, 1.0]
    check(api)
    # While the victim stops, the preemptor waits for it and no second job is evicted.
    again = cycles.run_once()
    assert again.evicted == 0 and again.bound == 0
    summary = job(api, high)["reason"]["summary"]
    assert summary.startswith(f"waiting for {victim} to stop (grace"), summary
    heartbeat(api, agent, report(survivor, "running"), report(victim, "killed"), gpus=2)
    assert cycles.run_once().bound == 1
    assert job(api, high)["status"] == "running"
    assert job(api, survivor)["status"] == "running"
    check(api)
