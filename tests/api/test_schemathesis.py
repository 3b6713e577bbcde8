"""Generated requests against /openapi.json (admin token, SQLite): never a 5xx."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, reject, settings

from api.app import create_app
from scheduler.inventory import GpuInventory, NodeInventory
from scheduler.service.settings import Settings
from scheduler.store import nodes, tokens
from scheduler.store.tables import QueueRow

_home = Path(tempfile.mkdtemp(prefix="gpusched-schemathesis-"))
app = create_app(Settings(home=_home, db=f"sqlite:///{_home / 'gpusched.db'}"))
with app.state.sessions() as _session:
    ADMIN, _ = tokens.create(_session, "admin", now=time.time(), name="admin")
    _session.add(QueueRow(name="vision", deserved_milli=2000, created_at=time.time()))
    nodes.upsert(
        _session,
        NodeInventory("node-a", 64000, 512000, gpus=(GpuInventory(0, "GPU-a-0", "A100", 81920),)),
        now=time.time(),
    )
    _session.commit()

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    try:
        response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
    except requests.exceptions.InvalidHeader:
        reject()  # a header value no HTTP client may send (e.g. a newline): nothing reached us
    assert response.status_code < 500, (case.method, case.path, response.text)
