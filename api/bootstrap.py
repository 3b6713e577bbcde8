"""First start: an admin token written where the CLI finds it (mode 600)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from scheduler.store import tokens


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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(raw + "\n")
    os.chmod(path, 0o600)
    return raw
