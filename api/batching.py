"""Group commit for submits: concurrent requests share one transaction.

Requests that arrive while a group is being written wait for the next one; a group is written by
one thread, so its cost is shared by every request in it: on PostgreSQL one statement (jobs and
their events) on the writer's own autocommit connection, elsewhere one transaction (queue check,
one multi-row INSERT of jobs, one of events, commit). Each request still gets its own answer,
and a 201 only once the statement or transaction that holds its job has committed.

One request never fails another: bad input is refused before the group is written (pydantic,
scope, queue and size checks); duplicated Idempotency-Keys are resolved inside the group; and if
the database refuses the group anyway (a constraint, a value it cannot store), every request of
it is written again on its own, so only the offending one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from fastapi import HTTPException, status
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api import submission
from api.submission import Prepared, Submitted
from scheduler.service.wakeup import Wakeup
from scheduler.store import jobs, queues

log = logging.getLogger(__name__)
Outcome = Submitted | Exception


class SubmitBatcher:
    """Collects submits on the event loop and writes them in groups of at most `max_batch`."""

    def __init__(
        self, sessions: sessionmaker[Session], wakeup: Wakeup, *, max_batch: int = 256
    ) -> None:
        self.sessions = sessions
        self.wakeup = wakeup
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[Prepared, asyncio.Future[Submitted]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        engine = sessions.kw.get("bind")
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._connection: Connection | None = None  # the writer's own (PostgreSQL)
        self._connection_used_at = 0.0
        self._known_leaves: set[str] = set()

    async def submit(self, prepared: Prepared) -> Submitted:
        """Store the job (or find the earlier one of its key); returns once committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start several): start afresh
            self._loop, self._waiting, self._writer = loop, [], None
        future: asyncio.Future[Submitted] = loop.create_future()
        self._waiting.append((prepared, future))
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await future

    def close(self) -> None:
        """Let the writer thread and its connection go (after the server stopped serving)."""
        if self._executor is not None:
            self._executor.submit(self._disconnect)
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="submit-writer")
        batch: list[tuple[Prepared, asyncio.Future[Submitted]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: len(batch)]
                items = [prepared for prepared, _ in batch]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._write, items)
                except Exception as error:  # the database is down, say: every request hears it
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                batch = []
        finally:
            self._writer = None
            for _, future in batch + self._waiting:  # only when cancelled (shutdown)
                if not future.done():
                    future.set_exception(
                        HTTPException(
                            status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the server is shutting down; retry with the same Idempotency-Key",
                        )
                    )
            self._waiting = []

    def _write(self, items: list[Prepared]) -> list[Outcome]:
        connection = self._writer_connection()
        outcomes = write_batch(
            self.sessions,
            items,
            connection=connection,
            known_leaves=self._known_leaves if connection is not None else None,
        )
        if any(isinstance(o, Submitted) and o.created for o in outcomes):
            self.wakeup.notify()
        return outcomes

    def _writer_connection(self) -> Connection | None:
        """On PostgreSQL, the writer's autocommit connection, kept between groups.

        Kept, it needs no check-out ping per group; after a pause it is pinged once, and a
        broken one is replaced. SQLite writes through ordinary sessions.
        """
        if self._engine is None or self._engine.dialect.name != "postgresql":
            return None
        now = time.monotonic()
        connection = self._connection
        if connection is not None and (connection.closed or connection.invalidated):
            self._disconnect()
            connection = None
        if connection is not None and now - self._connection_used_at > _PING_AFTER_IDLE_SECONDS:
            try:
                connection.exec_driver_sql("SELECT 1")
            except DBAPIError:
                self._disconnect()
                connection = None
        if connection is None:
            connection = self._engine.connect()  # the pool pings it on check-out
            connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        self._connection_used_at = now
        return connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


_PING_AFTER_IDLE_SECONDS = 5.0


def write_batch(
    sessions: sessionmaker[Session],
    items: list[Prepared],
    *,
    connection: Connection | None = None,
    known_leaves: set[str] | None = None,
) -> list[Outcome]:
    """Store `items` together; one by one if the database refuses the group.

    `connection` (PostgreSQL, autocommit) carries the group instead of a new session: the
    group's only write is then one statement, atomic on its own. `known_leaves` are queues seen
    as leaves before, not read again (the statement itself skips a queue that became a parent,
    and the foreign key refuses one that was deleted).
    """
    try:
        with Session(bind=connection) if connection is not None else sessions() as session:
            outcomes = _write_group(session, items, known_leaves)
            session.commit()
    except (IntegrityError, DataError) as error:
        log.info("a group of %d submits was refused (%s); storing them one by one", len(items), error)
        if known_leaves is not None:
            known_leaves.clear()  # a queue may have gone
        return [_write_one(sessions, item) for item in items]
    return [
        outcome if outcome is not None else _write_one(sessions, item)
        for item, outcome in zip(items, outcomes, strict=True)
    ]


def _write_one(sessions: sessionmaker[Session], item: Prepared) -> Outcome:
    try:
        with sessions() as session:
            return submission.submit(session, item)
    except Exception as error:  # this request's answer; the others go on
        return error


def _write_group(
    session: Session, items: list[Prepared], known_leaves: set[str] | None
) -> list[Outcome | None]:
    """Outcomes of `items` (uncommitted); None for a request to write on its own afterwards."""
    outcomes: list[Outcome | None] = [None] * len(items)
    leaves = _leaf_statuses(session, {item.body.queue for item in items}, known_leaves)
    leader: dict[tuple[int, str], int] = {}  # the first request of each (token, key) here
    followers: list[int] = []
    to_insert: list[int] = []
    for n, item in enumerate(items):
        key = _key(item)
        if key is not None:
            if key in leader:
                followers.append(n)
                continue
            leader[key] = n
        try:
            submission.check(session, item.body, leaves.get(item.body.queue))
        except HTTPException as refused:
            outcomes[n] = refused
            continue
        to_insert.append(n)
    inserted = jobs.add_many(session, [items[n].row for n in to_insert])
    for n in to_insert:
        if items[n].row["id"] in inserted:
            outcomes[n] = Submitted(submission.new_job_public(items[n].row), created=True)
    # A key stored before (a retry) answers with its job, even where the checks now refuse.
    # A request skipped for another reason (its queue just became a parent) stays None.
    _replay_earlier(
        session, items, outcomes, [n for n in leader.values() if not _created(outcomes[n])]
    )
    for n in followers:
        first = leader[_key(items[n])]  # type: ignore[index]
        done = outcomes[first]
        if isinstance(done, Submitted) and done.created:
            outcomes[n] = _same_key(items[n], items[first], done)
        # else (rare) left None: decided alone once this group is stored
    return outcomes


def _leaf_statuses(
    session: Session, names: set[str], known_leaves: set[str] | None
) -> dict[str, bool]:
    known = names & known_leaves if known_leaves is not None else set()
    leaves = dict.fromkeys(known, True)
    leaves.update(queues.leaf_statuses(session, sorted(names - known)))
    if known_leaves is not None:
        if len(known_leaves) > 10_000:  # bounded: queue names come from callers
            known_leaves.clear()
        known_leaves.update(name for name, leaf in leaves.items() if leaf)
    return leaves


def _created(outcome: Outcome | None) -> bool:
    return isinstance(outcome, Submitted) and outcome.created


def _replay_earlier(
    session: Session, items: list[Prepared], outcomes: list[Outcome | None], keyed: list[int]
) -> None:
    """Answer keyed requests not stored here with the job stored earlier under their key."""
    by_token: dict[int, list[int]] = defaultdict(list)
    for n in keyed:
        by_token[items[n].principal.token_id].append(n)
    for token_id, indices in by_token.items():
        keys = [str(items[n].idempotency_key) for n in indices]
        earlier = jobs.by_idempotency_keys(session, token_id, keys)
        for n in indices:
            job = earlier.get(str(items[n].idempotency_key))
            if job is None:
                continue
            try:
                outcomes[n] = submission.replay(session, job, items[n].request_hash)
            except HTTPException as conflict:
                outcomes[n] = conflict


def _same_key(item: Prepared, first: Prepared, created: Submitted) -> Outcome:
    """A duplicate of a request created in this group: the same job, or 409 if it differs."""
    if item.request_hash != first.request_hash:
        return HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key was already used for job {created.job.id} with a different request",
        )
    return Submitted(created.job, created=False)


def _key(item: Prepared) -> tuple[int, str] | None:
    key = item.idempotency_key
    return None if key is None else (item.principal.token_id, key)

