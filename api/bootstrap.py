"""First start: an admin token written where the CLI finds it, and node tokens for `gpusched
up`'s embedded agent where it finds them (all mode 600)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from scheduler.store import events, tokens


def ensure_admin_token(sessions: sessionmaker[Session], path: Path) -> str:
    """Reuse the admin token in `path` if it is still valid; otherwise make one and write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sessions() as session:
        if path.is_file():
            existing = path.read_text().strip()
            row = tokens.find_valid(session, existing, now=time.time())
            if row is not None and row.kind == "admin":
                os.chmod(path, 0o600)
                return existing
        raw, _ = tokens.create(session, "admin", now=time.time(), name="admin")
        session.commit()
    _write_secret(path, raw)
    return raw


def ensure_node_token(sessions: sessionmaker[Session], *, node: str, path: Path) -> None:
    """Leave `path` holding a live agent token scoped to `node`: the one there if it still is,
    else a new one (the node's older agent tokens are revoked: one live token per node).

    The process that serves the API mints it for its own embedded agent, so that agent never
    needs the admin token; any other agent trades a join token for one.
    """
    with sessions() as session:
        if path.is_file():
            existing = path.read_text().strip()
            row = tokens.find_valid(session, existing, now=time.time())
            if row is not None and row.kind == "agent" and row.node == node:
                os.chmod(path, 0o600)
                return
        now = time.time()
        tokens.revoke_node(session, node, now=now)
        raw, row = tokens.create(session, "agent", now=now, name=f"agent:{node}", node=node)
        events.record(session, "token.created", at=now, data={"id": row.id, "kind": "agent"})
        session.commit()
    _write_secret(path, raw)


def _write_secret(path: Path, raw: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(raw + "\n")
    os.chmod(path, 0o600)
