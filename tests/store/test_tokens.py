"""Join token uses (issue 12 item 7): spending one is atomic, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from scheduler.store import tokens
from scheduler.store.db import session_factory


def test_two_joins_racing_for_a_single_use_token_cannot_both_win(engine: Engine) -> None:
    sessions = session_factory(engine)
    now = time.time()
    with sessions() as session:
        _, row = tokens.create(session, "join", now=now, uses=1)
        session.commit()
        token_id = row.id
    results: list[bool] = []
    with sessions() as first:
        results.append(tokens.spend_use(first, token_id, now=now))

        def second_join() -> None:
            # Waits for the first's lock (row lock / SQLite's write lock), then sees 0 left.
            with sessions() as second:
                results.append(tokens.spend_use(second, token_id, now=now))
                second.commit()

        racer = threading.Thread(target=second_join)
        racer.start()
        first.commit()
    racer.join(timeout=60)
    assert sorted(results) == [False, True]


def test_a_token_made_for_n_uses_gives_exactly_n(engine: Engine) -> None:
    with session_factory(engine)() as session:
        _, row = tokens.create(session, "join", now=time.time(), uses=3)
        spent = [tokens.spend_use(session, row.id, now=time.time()) for _ in range(5)]
        assert spent == [True, True, True, False, False]


def test_an_expired_or_revoked_join_token_has_no_use_left(engine: Engine) -> None:
    now = time.time()
    with session_factory(engine)() as session:
        _, expired = tokens.create(session, "join", now=now - 10, ttl_seconds=5, uses=2)
        _, revoked = tokens.create(session, "join", now=now, uses=2)
        assert tokens.revoke(session, revoked.id, now=now) == "revoked"
        assert not tokens.spend_use(session, expired.id, now=now)
        assert not tokens.spend_use(session, revoked.id, now=now)


def test_two_admins_revoking_each_other_at_once_leave_one(engine: Engine) -> None:
    sessions = session_factory(engine)
    now = time.time()
    with sessions() as session:
        _, a = tokens.create(session, "admin", now=now)
        _, b = tokens.create(session, "admin", now=now)
        session.commit()
        ids = (a.id, b.id)
    outcomes: list[str] = []
    with sessions() as first:
        outcomes.append(tokens.revoke(first, ids[0], now=now))

        def other_revocation() -> None:
            with sessions() as second:
                outcomes.append(tokens.revoke(second, ids[1], now=now))
                second.commit()

        racer = threading.Thread(target=other_revocation)
        racer.start()
        first.commit()
    racer.join(timeout=60)
    assert sorted(outcomes) == ["last-admin", "revoked"]
