"""An app per test on each database, with admin, user and agent tokens at hand."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from scheduler.settings import Settings
from scheduler.store import tokens
from scheduler.store.db import session_factory
from tests.store.databases import db_url, engine

__all__ = ["db_url", "engine"]


@dataclass
class Api:
    client: TestClient
    engine: Engine
    admin: dict[str, str]
    settings: Settings

    def token(self, kind: str, **kwargs: Any) -> dict[str, str]:
        with session_factory(self.engine)() as session:
            raw, _ = tokens.create(session, kind, now=time.time(), name=f"t-{kind}", **kwargs)
            session.commit()
        return {"Authorization": f"Bearer {raw}"}

    def queue(self, name: str, **fields: Any) -> dict[str, Any]:
        reply = self.client.post("/v1/queues", json={"name": name, **fields}, headers=self.admin)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    def join(self, name: str = "node-a", gpus: int = 2, memory: int = 81920) -> dict[str, str]:
        """Join a node through the API; returns its agent's auth header."""
        join = self.client.post("/v1/agents/join-tokens", json={}, headers=self.admin).json()
        reply = self.client.post(
            "/v1/agents/join",
            json={"join_token": join["token"], "node": node_spec(name, gpus, memory)},
        )
        assert reply.status_code == 201, reply.text
        return {"Authorization": f"Bearer {reply.json()['token']}"}


def node_spec(name: str, gpus: int = 2, memory: int = 81920) -> dict[str, Any]:
    return {
        "name": name,
        "cpu_millis": 64000,
        "memory_mib": 512000,
        "labels": {},
        "enforcement": "watchdog",
        "gpus": [
            {
                "index": i,
                "uuid": f"GPU-{name}-{i}",
                "model": "A100-80GB",
                "memory_mib": memory,
                "compute_capability": "8.0",
                "mig_mode": False,
            }
            for i in range(gpus)
        ],
    }


@contextlib.contextmanager
def serve(engine: Engine, settings: Settings) -> Iterator[Api]:
    """The app on `engine` with `settings`, and an admin token."""
    app = create_app(settings, engine=engine, migrate=False)
    with session_factory(engine)() as session:
        raw, _ = tokens.create(session, "admin", now=time.time(), name="admin")
        session.commit()
    with TestClient(app) as client:
        yield Api(client, engine, {"Authorization": f"Bearer {raw}"}, settings)


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    with serve(engine, Settings(home=tmp_path, db="unused://")) as served:
        yield served
