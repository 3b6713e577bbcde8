"""Starting jobs in bulk (the cycle's commit), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from scheduler.protocol import GpuSpec, NodeSpec
from scheduler.store import allocations, binds, bulk, held, jobs, nodes
from scheduler.store.binds import ReplicaStart
from scheduler.store.db import session_factory
from scheduler.store.tables import AllocationRow, EventRow, GpuRow, JobRow, QueueRow, ReplicaRow
from tests.store.databases import postgresql_only
from tests.support import invariants
from tests.support.seed import submit_row


def _seed(engine: Engine, job_ids: list[str]) -> None:
    with session_factory(engine)() as session:
        session.add(QueueRow(name="q", deserved_milli=0, created_at=0.0))
        for name in ("n1", "n2"):
            gpus = [GpuSpec(index=i, uuid=f"GPU-{name}-{i}", model="A100", memory_mib=81920)
                    for i in range(2)]
            node = NodeSpec(name=name, cpu_millis=8000, memory_mib=64000, gpus=gpus)
            nodes.upsert(session, node, now=0.0)
        rows = [submit_row(job_id, replicas=2 if job_id == "gang" else 1) for job_id in job_ids]
        jobs.add_many(session, rows)
        # Pending jobs carry a reason until they start (written as the loop writes reasons).
        waiting = {job_id: '{"summary": "waiting"}' for job_id in job_ids}
        table = JobRow.__table__
        bulk.set_json_by_id(session, table, column="reason", values=waiting, where_status="pending")
        session.commit()


def _start(engine: Engine, starts: dict[str, list[ReplicaStart]]) -> set[str]:
    uuids = {(n, i): f"GPU-{n}-{i}" for n in ("n1", "n2") for i in range(2)}
    with session_factory(engine)() as session:
        started = binds.start_pending(session, starts, uuids=uuids, now=5.0)
        session.commit()
    return started


def test_jobs_start_with_their_replicas_shares_and_one_event_each(engine: Engine) -> None:
    _seed(engine, ["half", "gang", "cpu", "gone"])
    with session_factory(engine)() as session:
        session.execute(update(JobRow).where(JobRow.id == "gone").values(status="cancelled"))
        session.commit()
    started = _start(engine, {
        "half": [ReplicaStart(0, "n1", ((0, 500),))],
        # a gang over both nodes: its event names both, sorted
        "gang": [ReplicaStart(0, "n2", ((0, 1000), (1, 1000))), ReplicaStart(1, "n1", ((1, 1000),))],
        "cpu": [ReplicaStart(0, "n2")],
        "gone": [ReplicaStart(0, "n1", ((0, 500),))],  # cancelled since the snapshot: skipped
    })
    assert started == {"half", "gang", "cpu"}
    with session_factory(engine)() as session:
        status = dict(session.execute(select(JobRow.id, JobRow.status)).all())
        assert status == {"half": "running", "gang": "running", "cpu": "running", "gone": "cancelled"}
        row = session.get(JobRow, "gang")
        assert row is not None and row.reason is None and row.attempts == 1
        held = dict(session.execute(select(GpuRow.uuid, GpuRow.allocated_milli)).all())
        # GPU-n1-0: half's 500 only (the cancelled job's share was not written)
        assert held == {"GPU-n1-0": 500, "GPU-n1-1": 1000, "GPU-n2-0": 1000, "GPU-n2-1": 1000}
        shares = session.execute(
            select(AllocationRow.job_id, AllocationRow.replica, AllocationRow.gpu_uuid,
                   AllocationRow.milli).order_by(AllocationRow.gpu_uuid)
        ).all()
        assert [tuple(s) for s in shares] == [
            ("half", 0, "GPU-n1-0", 500), ("gang", 1, "GPU-n1-1", 1000),
            ("gang", 0, "GPU-n2-0", 1000), ("gang", 0, "GPU-n2-1", 1000),
        ]
        replicas = session.execute(
            select(ReplicaRow.job_id, ReplicaRow.replica, ReplicaRow.node, ReplicaRow.state,
                   ReplicaRow.attempt)
        ).all()
        # the first bind of each job: attempt 1 (the jobs' counter after the bind)
        assert sorted(tuple(r) for r in replicas) == [
            ("cpu", 0, "n2", "assigned", 1), ("gang", 0, "n2", "assigned", 1),
            ("gang", 1, "n1", "assigned", 1), ("half", 0, "n1", "assigned", 1),
        ]
        bound = session.execute(
            select(EventRow.job_id, EventRow.at, EventRow.data)
            .where(EventRow.kind == "job.bound").order_by(EventRow.id)
        ).all()
        # in the order they were given, each with its shares (by replica, node, GPU)
        def share(replica: int, node: str, index: int, milli: int) -> dict[str, object]:
            return {"replica": replica, "node": node, "gpu_index": index,
                    "gpu_uuid": f"GPU-{node}-{index}", "milli": milli}

        assert [tuple(e) for e in bound] == [
            ("half", 5.0, {"nodes": ["n1"], "attempt": 1,
                           "allocations": [share(0, "n1", 0, 500)]}),
            ("gang", 5.0, {"nodes": ["n1", "n2"], "attempt": 1, "allocations": [
                share(0, "n2", 0, 1000), share(0, "n2", 1, 1000), share(1, "n1", 1, 1000)]}),
            ("cpu", 5.0, {"nodes": ["n2"], "attempt": 1, "allocations": []}),
        ]
        assert invariants.violations(session) == []


def test_where_a_job_last_ran_outlives_its_shares(engine: Engine) -> None:
    _seed(engine, ["half", "gang", "cpu"])
    _start(engine, {
        "half": [ReplicaStart(0, "n1", ((0, 500),))],
        "gang": [ReplicaStart(0, "n2", ((1, 1000),)), ReplicaStart(1, "n1", ((1, 1000),))],
        "cpu": [ReplicaStart(0, "n2")],
    })
    with session_factory(engine)() as session:
        allocations.release(session, ["half", "gang"])
        session.commit()
    with session_factory(engine)() as session:
        assert allocations.of_jobs(session, ["half", "gang"]) == {}
        last = allocations.last_bound(session, ["half", "gang", "cpu", "never"])
        shown = {
            job: [(a.replica, a.node, a.gpu_index, a.gpu_uuid, a.milli) for a in rows]
            for job, rows in last.items()
        }
    # cpu held no GPU and "never" was never bound: neither has a placement to show
    assert shown == {
        "half": [(0, "n1", 0, "GPU-n1-0", 500)],
        "gang": [(0, "n2", 1, "GPU-n2-1", 1000), (1, "n1", 1, "GPU-n1-1", 1000)],
    }
    # requeued and bound elsewhere: the latest bind is where it last ran
    with session_factory(engine)() as session:
        session.execute(update(JobRow).where(JobRow.id == "half").values(status="pending"))
        session.commit()
    _start(engine, {"half": [ReplicaStart(0, "n2", ((0, 250),))]})
    with session_factory(engine)() as session:
        (again,) = allocations.last_bound(session, ["half"])["half"]
        assert (again.node, again.gpu_index, again.milli) == ("n2", 0, 250)


def test_an_overfull_gpu_rejects_the_whole_start(engine: Engine) -> None:
    _seed(engine, ["a", "b", "c"])
    _start(engine, {"a": [ReplicaStart(0, "n1", ((0, 600),))]})
    # b alone would fit, but c's 600 on top of a's 600 does not: nothing of this batch is kept.
    with pytest.raises(IntegrityError):
        _start(engine, {
            "b": [ReplicaStart(0, "n1", ((1, 300),))],
            "c": [ReplicaStart(0, "n1", ((0, 600),))],
        })
    with session_factory(engine)() as session:
        status = dict(session.execute(select(JobRow.id, JobRow.status)).all())
        assert status == {"a": "running", "b": "pending", "c": "pending"}
        assert session.scalar(select(GpuRow.allocated_milli).where(GpuRow.index == 1)) == 0
        assert invariants.violations(session) == []


def test_a_start_on_an_unknown_gpu_is_refused(engine: Engine) -> None:
    _seed(engine, ["a"])
    with pytest.raises(IntegrityError):
        _start(engine, {"a": [ReplicaStart(0, "n1", ((7, 500),))]})
    with session_factory(engine)() as session:
        assert session.scalar(select(JobRow.status)) == "pending"


def test_a_start_on_an_unknown_node_is_refused(engine: Engine) -> None:
    _seed(engine, ["a"])
    with pytest.raises(IntegrityError):
        _start(engine, {"a": [ReplicaStart(0, "n9")]})
    with session_factory(engine)() as session:
        assert session.scalar(select(JobRow.status)) == "pending"


@postgresql_only  # SQLite's foreign keys refuse the orphans outright
def test_the_invariant_walker_names_orphaned_replicas_and_shares(engine: Engine) -> None:
    _seed(engine, ["a"])
    with session_factory(engine)() as session:
        session.add(ReplicaRow(job_id="ghost", replica=0, node="n9", state="assigned"))
        session.add(AllocationRow(job_id="a", replica=3, node="n1", gpu_index=0, milli=100))
        session.commit()
        found = invariants.violations(session)
    assert "replica 0 of unknown job ghost" in found
    assert "replica 0 of job ghost is on unknown node n9" in found
    assert "a share of GPU n1/0 belongs to no replica (a/3)" in found


def test_a_requeued_job_binds_as_its_next_attempt_while_the_old_one_is_held(
    engine: Engine,
) -> None:
    _seed(engine, ["a"])
    _start(engine, {"a": [ReplicaStart(0, "n1", ((0, 600),))]})
    with session_factory(engine)() as session:
        job = jobs.get_for_update(session, "a")
        assert job is not None
        status = jobs.stop_running(
            session, job, now=6.0, outcome="preempted", message="evicted", grace=30.0
        )
        session.commit()
    assert status == "pending"
    # Attempt 1 still holds its 600 on n1/0; attempt 2 may take the rest of that GPU.
    _start(engine, {"a": [ReplicaStart(0, "n1", ((0, 400),))]})
    with session_factory(engine)() as session:
        assert session.scalar(select(ReplicaRow.attempt)) == 2
        assert session.scalar(select(JobRow.attempts)) == 2
        gpu = session.scalar(select(GpuRow.allocated_milli).where(GpuRow.node == "n1",
                                                                  GpuRow.index == 0))
        assert gpu == 1000
        held_rows = held.all_held(session)
        assert [(h.job_id, h.attempt, h.gpus, h.stopping_until) for h in held_rows] == [
            ("a", 1, [[0, 600]], 36.0)
        ]
        assert invariants.violations(session) == []
    # Nothing more fits on that GPU while attempt 1 is stopping.
    _add_job(engine, "b")
    with pytest.raises(IntegrityError):
        _start(engine, {"b": [ReplicaStart(0, "n1", ((0, 1),))]})
    with session_factory(engine)() as session:
        assert held.release_gone(session, "n1", reports=[(("a", 0, 1), "killed")]) == 1
        session.commit()
        gpu = session.scalar(select(GpuRow.allocated_milli).where(GpuRow.node == "n1",
                                                                  GpuRow.index == 0))
        assert gpu == 400
        assert invariants.violations(session) == []


def _add_job(engine: Engine, job_id: str) -> None:
    with session_factory(engine)() as session:
        jobs.add_many(session, [submit_row(job_id)])
        session.commit()
