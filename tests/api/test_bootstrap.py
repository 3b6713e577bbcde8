"""`gpusched up`'s own tokens: the embedded agent's node tokens (issue 12 item 6)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from sqlalchemy import Engine

from api.bootstrap import ensure_node_token
from scheduler.store import tokens
from scheduler.store.db import session_factory


def test_a_node_token_is_minted_once_and_reused_while_it_is_live(
    engine: Engine, tmp_path: Path
) -> None:
    sessions, path = session_factory(engine), tmp_path / "agent" / "box-sim-0" / "token"
    ensure_node_token(sessions, node="box-sim-0", path=path)
    raw = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ensure_node_token(sessions, node="box-sim-0", path=path)  # a restart
    assert path.read_text().strip() == raw
    with sessions() as session:
        row = tokens.find_valid(session, raw, now=time.time())
        assert row is not None and (row.kind, row.node) == ("agent", "box-sim-0")


def test_a_revoked_or_foreign_token_is_replaced_and_only_the_new_one_lives(
    engine: Engine, tmp_path: Path
) -> None:
    sessions, path = session_factory(engine), tmp_path / "token"
    ensure_node_token(sessions, node="box-sim-1", path=path)
    first = path.read_text().strip()
    ensure_node_token(sessions, node="box-sim-0", path=path)  # the file held another node's
    second = path.read_text().strip()
    assert second != first
    with sessions() as session:
        tokens.revoke_node(session, "box-sim-0", now=time.time())
        session.commit()
    ensure_node_token(sessions, node="box-sim-0", path=path)
    third = path.read_text().strip()
    with sessions() as session:
        live = [(t.kind, t.node) for t in tokens.list_live(session)]
        assert tokens.find_valid(session, third, now=time.time()) is not None
    assert sorted(live) == [("agent", "box-sim-0"), ("agent", "box-sim-1")]
