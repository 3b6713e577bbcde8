"""Tokens in the store: revocation keeps an admin (issue 12 item 6), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from scheduler.store import tokens
from scheduler.store.db import session_factory


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
