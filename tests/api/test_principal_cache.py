"""The principal cache: answers repeat tokens, forgets on revocation, stale entries and expiry."""

from __future__ import annotations

import time

import pytest
from fastapi import HTTPException
from sqlalchemy import Engine

import api.auth
from api.auth import PrincipalCache
from scheduler.store import tokens
from scheduler.store.db import session_factory


def _token(engine: Engine, **kwargs: float) -> tuple[str, int]:
    with session_factory(engine)() as session:
        raw, row = tokens.create(session, "user", now=time.time(), name="ana", queues=["a"], **kwargs)
        session.commit()
        return raw, row.id


def test_a_looked_up_token_is_answered_from_the_cache(engine: Engine) -> None:
    raw, token_id = _token(engine)
    cache = PrincipalCache(ttl=3600)
    assert cache.get(raw) is None
    with session_factory(engine)() as session:
        principal = cache.lookup(session, raw)
    assert principal.token_id == token_id and principal.queues == frozenset({"a"})
    assert cache.get(raw) == principal
    cache.clear()
    assert cache.get(raw) is None


def test_rejected_tokens_are_not_cached(engine: Engine) -> None:
    cache = PrincipalCache(ttl=3600)
    with session_factory(engine)() as session, pytest.raises(HTTPException) as raised:
        cache.lookup(session, "gsu_unknown")
    assert raised.value.status_code == 401
    assert cache.get("gsu_unknown") is None


def test_entries_go_stale_after_the_ttl(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, _ = _token(engine)
    cache = PrincipalCache(ttl=1.0)
    with session_factory(engine)() as session:
        cache.lookup(session, raw)
    later = time.time() + 1.5
    monkeypatch.setattr(api.auth.time, "time", lambda: later)
    assert cache.get(raw) is None  # another replica's revocation is seen after the ttl


def test_a_cached_token_still_expires_on_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _ = _token(engine, ttl_seconds=60)
    cache = PrincipalCache(ttl=3600)
    with session_factory(engine)() as session:
        cache.lookup(session, raw)
    assert cache.get(raw) is not None
    later = time.time() + 120
    monkeypatch.setattr(api.auth.time, "time", lambda: later)
    assert cache.get(raw) is None
