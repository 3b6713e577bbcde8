"""The store's guarantees on SQLite and PostgreSQL: no GPU share twice, tokens hashed, one key."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from scheduler.protocol import GpuSpec, NodeSpec
from scheduler.store import allocations, events, jobs, nodes, tokens
from scheduler.store.allocations import Share
from scheduler.store.db import session_factory
from scheduler.store.tables import GpuRow, JobRow, QueueRow, TokenRow
from tests.support.seed import submit_row


def _seed(engine: Engine, job_ids: list[str]) -> None:
    with session_factory(engine)() as session:
        session.add(QueueRow(name="q", deserved_milli=0, created_at=0.0))
        nodes.upsert(
            session,
            NodeSpec(
                name="n1", cpu_millis=8000, memory_mib=64000,
                gpus=[GpuSpec(index=0, uuid="GPU-0", model="A100", memory_mib=81920)],
            ),
            now=0.0,
        )
        jobs.add_many(session, [submit_row(job_id, gpus=0.6) for job_id in job_ids])
        session.commit()


def _bind(engine: Engine, job_id: str, milli: int) -> None:
    with session_factory(engine)() as session:
        allocations.bind(
            session,
            replicas=[(job_id, 0, "n1")],
            shares=[Share(job_id, 0, "n1", 0, milli)],
            uuids={("n1", 0): "GPU-0"},
        )
        session.commit()


def _allocated(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalars(select(GpuRow.allocated_milli)).one()


def test_a_gpu_share_cannot_be_allocated_past_one_gpu(engine: Engine) -> None:
    _seed(engine, ["a", "b"])
    _bind(engine, "a", 600)
    # 600 + 600 > 1000: the GPU's check constraint refuses the second bind as a whole.
    with pytest.raises(IntegrityError):
        _bind(engine, "b", 600)
    assert _allocated(engine) == 600
    with session_factory(engine)() as session:
        assert allocations.of_jobs(session, ["b"]) == {}


def test_release_gives_the_share_back(engine: Engine) -> None:
    _seed(engine, ["a", "b"])
    _bind(engine, "a", 600)
    with session_factory(engine)() as session:
        allocations.release(session, ["a"])
        session.commit()
    assert _allocated(engine) == 0
    _bind(engine, "b", 1000)
    assert _allocated(engine) == 1000


def test_the_same_replica_cannot_hold_the_same_gpu_twice(engine: Engine) -> None:
    _seed(engine, ["a"])
    _bind(engine, "a", 300)
    with pytest.raises(IntegrityError):
        _bind(engine, "a", 300)
    assert _allocated(engine) == 300


def test_tokens_are_stored_hashed_and_expire(engine: Engine) -> None:
    with session_factory(engine)() as session:
        raw, _ = tokens.create(session, "join", now=100.0, ttl_seconds=10)
        session.commit()
        stored = session.scalars(select(TokenRow.token_hash)).all()
        assert raw not in stored and tokens.hash_token(raw) in stored
        assert raw.startswith("gsj_")
        assert tokens.find_valid(session, raw, now=105.0) is not None
        assert tokens.find_valid(session, raw, now=111.0) is None
        assert tokens.find_valid(session, raw + "x", now=105.0) is None


def test_idempotency_key_is_unique_per_token(engine: Engine) -> None:
    _seed(engine, [])
    make = session_factory(engine)

    def submit(job_id: str, token_id: int) -> set[str]:
        with make() as session:
            row = submit_row(job_id, token_id=token_id, idempotency_key="k1")
            stored = jobs.add_many(session, [row])
            session.commit()
            return stored

    assert submit("j1", 1) == {"j1"}
    assert submit("j2", 2) == {"j2"}  # another token may use the same key
    assert submit("j3", 1) == set()  # skipped: the caller looks up j1 under the key instead
    with make() as session:
        assert [e.kind for e in events.for_job(session, "j1")] == ["job.submitted"]
        assert session.get(JobRow, "j3") is None


def test_a_vanished_gpu_is_kept_but_marked_absent(engine: Engine) -> None:
    _seed(engine, [])
    with session_factory(engine)() as session:
        bare = NodeSpec(name="n1", cpu_millis=8000, memory_mib=64000, gpus=[])
        _, changed = nodes.upsert(session, bare, now=1.0)
        session.commit()
        assert changed
        gpu = session.scalars(select(GpuRow)).one()
        assert gpu.present is False
