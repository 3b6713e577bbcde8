"""`gpusched up`'s embedded agent speaks with node tokens of its own (issue 12 item 6)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.service.test_crash import Service
from tests.service.test_up import _wait_for


def test_the_embedded_agents_outlive_the_bootstrap_admin_token(tmp_path: Path) -> None:
    service = Service(tmp_path, extra_args=["--simulate-gpus", "2x1xA100-80GB"])
    service.start()
    try:
        with httpx.Client(base_url=service.url, headers=service.admin, timeout=30) as client:
            nodes = _wait_for(
                lambda: [n for n in client.get("/v1/nodes").json() if n["last_heartbeat_at"]]
                if len(client.get("/v1/nodes").json()) == 2 else None,
                what="both simulated nodes to heartbeat",
            )
            names = sorted(n["name"] for n in nodes)
            listed = client.get("/v1/tokens").json()
            agents = sorted(t["node"] for t in listed if t["kind"] == "agent")
            assert agents == names  # one node-scoped agent token per node
            bootstrap = [t["id"] for t in listed if t["kind"] == "admin"]
            assert len(bootstrap) == 1
            # An admin revokes the bootstrap token (after making another): the nodes keep going.
            made = client.post("/v1/tokens", json={"kind": "admin", "name": "ops"}).json()
            ops = {"Authorization": f"Bearer {made['token']}"}
            assert client.delete(f"/v1/tokens/{bootstrap[0]}", headers=ops).status_code == 204
        with httpx.Client(base_url=service.url, headers=ops, timeout=30) as client:
            revoked_at = max(n["last_heartbeat_at"] for n in client.get("/v1/nodes").json())

            def both_heartbeat_again() -> bool:
                now = client.get("/v1/nodes").json()
                return all(n["ready"] and n["last_heartbeat_at"] > revoked_at + 1 for n in now)

            _wait_for(both_heartbeat_again, seconds=30, what="heartbeats after the revocation")
    finally:
        service.kill()
