"""Group commit of submits: one request's fault, duplicate or retry never changes another's answer."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import HTTPException
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from api import batching, submission
from api.auth import Principal
from api.batching import SubmitBatcher, write_batch
from api.schemas.jobs import JobCreate
from api.submission import Prepared, Submitted, prepare
from scheduler.service.wakeup import Wakeup
from scheduler.store.db import session_factory
from scheduler.store.tables import EventRow, JobRow
from tests.api.conftest import Api
from tests.store.databases import postgresql_only

ADMIN = Principal(token_id=1, kind="admin", name="admin")


def _body(**fields: Any) -> JobCreate:
    return JobCreate(**{"queue": "vision", "gpus": 0.5, "command": ["python", "t.py"], **fields})


def _item(key: str | None = None, principal: Principal = ADMIN, **fields: Any) -> Prepared:
    return prepare(_body(**fields), principal=principal, idempotency_key=key)


def _stored(engine: Engine) -> tuple[list[str], dict[str, int]]:
    """Stored job ids, and the job.submitted events per job id."""
    with session_factory(engine)() as session:
        ids = list(session.scalars(select(JobRow.id)))
        submitted = dict(
            session.execute(
                select(EventRow.job_id, func.count())
                .where(EventRow.kind == "job.submitted")
                .group_by(EventRow.job_id)
            ).all()
        )
    return ids, submitted


def _status(outcome: Any) -> int:
    if isinstance(outcome, Submitted):
        return 201
    if isinstance(outcome, HTTPException):
        return outcome.status_code
    raise AssertionError(f"unexpected outcome {outcome!r}")


def test_a_group_with_duplicates_and_bad_requests_answers_each_on_its_own(api: Api) -> None:
    api.queue("org")
    api.queue("vision", parent="org")
    api.queue("nlp", parent="org")
    api.join("node-a", gpus=2)
    items = [
        _item(),  # 0 stored
        _item("k1"),  # 1 stored
        _item("k1"),  # 2 the same request again: the same job
        _item("k1", gpus=1),  # 3 the same key, another request: 409
        _item(queue="nope"),  # 4 unknown queue: 404
        _item(queue="org"),  # 5 a parent queue: 409
        _item(gpus=4),  # 6 larger than any node: 409
        _item("k2", queue="nlp"),  # 7 stored
        _item("k2", queue="nlp"),  # 8 the same job as 7
    ]
    outcomes = write_batch(session_factory(api.engine), items)
    assert [_status(o) for o in outcomes] == [201, 201, 201, 409, 404, 409, 409, 201, 201]
    created = [o.created for o in outcomes if isinstance(o, Submitted)]
    assert created == [True, True, False, True, False]
    first, again, seventh, eighth = (outcomes[n] for n in (1, 2, 7, 8))
    assert isinstance(first, Submitted) and isinstance(again, Submitted)
    assert again.job.id == first.job.id
    assert isinstance(seventh, Submitted) and isinstance(eighth, Submitted)
    assert eighth.job.id == seventh.job.id and seventh.job.queue == "nlp"
    assert "does not exist" in str(outcomes[4]) and "leaf" in str(outcomes[5])
    ids, submitted = _stored(api.engine)
    expected = {o.job.id for o in outcomes if isinstance(o, Submitted)}
    assert sorted(ids) == sorted(expected) and len(ids) == 3
    assert submitted == dict.fromkeys(expected, 1)  # one event per job, none for the refused


def test_a_row_the_database_refuses_fails_alone(api: Api) -> None:
    api.queue("vision")
    taken = _item()
    assert _status(write_batch(session_factory(api.engine), [taken])[0]) == 201
    clash = _item()
    clash.row["id"] = taken.row["id"]  # a primary-key clash the checks cannot foresee
    items = [_item(), clash, _item("k"), _item("k")]
    outcomes = write_batch(session_factory(api.engine), items)
    assert isinstance(outcomes[1], IntegrityError)  # the app answers it with 409
    assert [_status(o) for n, o in enumerate(outcomes) if n != 1] == [201, 201, 201]
    ids, submitted = _stored(api.engine)
    assert len(ids) == 3 and set(submitted) == set(ids)


def test_a_retry_in_a_later_group_replays_even_where_the_checks_now_refuse(api: Api) -> None:
    api.queue("vision")
    sessions = session_factory(api.engine)
    first = write_batch(sessions, [_item("k1", gpus=2)])[0]  # no node yet: it may wait
    assert isinstance(first, Submitted) and first.created
    api.join("node-a", gpus=1)  # now 2 GPUs is larger than any node
    submission._largest_cache.clear()  # (re-read every 2 s otherwise)
    outcomes = write_batch(sessions, [_item("k1", gpus=2), _item("k1", gpus=1), _item(gpus=2)])
    replayed = outcomes[0]
    assert isinstance(replayed, Submitted) and not replayed.created
    assert replayed.job.id == first.job.id
    assert _status(outcomes[1]) == 409 and _status(outcomes[2]) == 409
    assert len(_stored(api.engine)[0]) == 1


def test_the_same_key_of_another_token_is_another_job(api: Api) -> None:
    api.queue("vision")
    other = Principal(token_id=2, kind="user", name="u", queues=frozenset({"vision"}))
    outcomes = write_batch(session_factory(api.engine), [_item("k"), _item("k", principal=other)])
    assert all(isinstance(o, Submitted) and o.created for o in outcomes)
    assert len(_stored(api.engine)[0]) == 2


def test_concurrent_submits_share_one_group(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    api.queue("vision")
    groups: list[int] = []
    real = batching.write_batch

    def counting(sessions: Any, items: list[Prepared], **kwargs: Any) -> Any:
        groups.append(len(items))
        return real(sessions, items, **kwargs)

    monkeypatch.setattr(batching, "write_batch", counting)
    wakeup = Wakeup()
    batcher = SubmitBatcher(session_factory(api.engine), wakeup)
    items = [_item(), _item("a"), _item("a"), _item("a", gpus=1), _item(queue="nope"), _item()]

    async def submit_all() -> list[Any]:
        return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        batcher.close()
    assert groups == [len(items)]
    assert [_status(o) for o in outcomes] == [201, 201, 201, 409, 404, 201]
    assert wakeup.pending.is_set()  # the loop is woken once the group is stored
    assert len(_stored(api.engine)[0]) == 3


def test_concurrent_requests_through_the_api(api: Api) -> None:
    api.queue("vision")
    body = {"queue": "vision", "gpus": 0.5, "command": ["python", "t.py"]}

    def post(n: int) -> tuple[int, str]:
        headers = dict(api.admin)
        if n % 3 == 0:
            headers["Idempotency-Key"] = f"key-{n % 6}"  # keys 0 and 3, each sent several times
        json = {**body, "gpus": 0} if n == 7 else body  # one bad request among them
        reply = api.client.post("/v1/jobs", json=json, headers=headers)
        return reply.status_code, reply.json().get("id", "")

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(post, range(40)))
    assert sorted({code for code, _ in replies}) == [201, 422]
    assert [n for n, (code, _) in enumerate(replies) if code == 422] == [7]
    keyed = {n % 6: job for n, (_, job) in enumerate(replies) if n % 3 == 0}
    for n, (_, job) in enumerate(replies):
        if n % 3 == 0:
            assert job == keyed[n % 6]  # every retry of a key got its one job
    ids, submitted = _stored(api.engine)
    assert len(ids) == 40 - 1 - (14 - 2)  # 14 keyed requests made 2 jobs; one was refused
    assert set(ids) == {job for code, job in replies if code == 201}
    assert submitted == dict.fromkeys(ids, 1)


@postgresql_only  # the known-leaf shortcut is PostgreSQL's
def test_a_queue_that_became_a_parent_is_checked_again(api: Api) -> None:
    """PostgreSQL's writer trusts queues seen as leaves; the statement itself re-checks."""
    api.queue("vision")
    api.queue("nlp")
    with api.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        known = {"vision", "nlp", "gone"}
        api.queue("vision-a", parent="vision")
        outcomes = write_batch(
            session_factory(api.engine),
            [_item(), _item(queue="nlp")],
            connection=connection,
            known_leaves=known,
        )
        assert [_status(o) for o in outcomes] == [409, 201]
        assert "leaf" in str(outcomes[0])
        # A queue that no longer exists fails the statement (foreign key): each is retried alone.
        outcomes = write_batch(
            session_factory(api.engine),
            [_item(queue="gone"), _item(queue="nlp")],
            connection=connection,
            known_leaves={"gone", "nlp"},
        )
        assert [_status(o) for o in outcomes] == [404, 201]
    assert len(_stored(api.engine)[0]) == 2


@postgresql_only  # the writer keeps its own connection on PostgreSQL only
def test_the_writer_replaces_a_connection_the_server_closed(api: Api) -> None:
    api.queue("vision")
    batcher = SubmitBatcher(session_factory(api.engine), Wakeup())

    async def submit(item: Prepared) -> Any:
        try:
            return await batcher.submit(item)
        except Exception as error:
            return error

    try:
        first = asyncio.run(submit(_item()))
        assert isinstance(first, Submitted)
        with api.engine.connect() as admin:  # e.g. a PostgreSQL restart
            admin.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # The group in flight when it breaks is answered 503 (nothing is known to be stored) ...
        broken = asyncio.run(submit(_item()))
        if isinstance(broken, Exception):
            assert isinstance(broken, OperationalError)
        # ... and the next is written on a new connection.
        after = asyncio.run(submit(_item()))
        assert isinstance(after, Submitted) and after.created
    finally:
        batcher.close()
    ids, submitted = _stored(api.engine)
    assert first.job.id in ids and after.job.id in ids and set(submitted) == set(ids)
