"""Every route without a token, with a wrong-scope user token and with another node's token."""

from __future__ import annotations

import re

from api.app import create_app
from scheduler.settings import Settings
from tests.api.conftest import Api

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/v1/agents/join")}
AGENT = {
    ("POST", "/v1/agents/{node}/heartbeat"),
    ("POST", "/v1/agents/{node}/logs/{job_id}/{replica}"),
}
PERSON = {
    ("GET", "/v1/queues"),
    ("GET", "/v1/queues/{name}"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("DELETE", "/v1/jobs/{job_id}"),
    ("GET", "/v1/jobs/{job_id}/explain"),
    ("GET", "/v1/jobs/{job_id}/logs"),
    ("GET", "/v1/jobs/{job_id}/events"),
}
ADMIN = {
    ("POST", "/v1/queues"),
    ("PATCH", "/v1/queues/{name}"),
    ("DELETE", "/v1/queues/{name}"),
    ("GET", "/v1/nodes"),
    ("GET", "/v1/nodes/{name}"),
    ("POST", "/v1/nodes/{name}/cordon"),
    ("POST", "/v1/nodes/{name}/uncordon"),
    ("DELETE", "/v1/nodes/{name}/token"),
    ("POST", "/v1/agents/join-tokens"),
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{token_id}"),
}


def _routes() -> list[tuple[str, str]]:
    paths = create_app(Settings(db="sqlite://")).openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


ROUTES = _routes()


def test_every_route_has_a_known_audience() -> None:
    unknown = set(ROUTES) - PUBLIC - AGENT - PERSON - ADMIN
    assert not unknown, f"classify these routes in test_auth.py: {sorted(unknown)}"


def _fill(path: str, *, job_id: str = "0123456789abcdef", node: str = "node-a") -> str:
    values = {"job_id": job_id, "node": node, "name": "vision", "replica": "0", "token_id": "1"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_no_token_or_a_wrong_token_gets_401(api: Api) -> None:
    wrong = []
    for method, path in ROUTES:
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer gsk_wrong"}, {"Authorization": "Basic x"}):
            reply = api.client.request(method, _fill(path), json={}, headers=headers)
            if reply.status_code != 401:
                wrong.append((method, path, headers, reply.status_code))
    assert not wrong


def test_public_routes_need_no_token(api: Api) -> None:
    for method, path in PUBLIC:
        reply = api.client.request(method, _fill(path), json={})
        assert reply.status_code not in (401, 403), (method, path)


def test_a_token_outside_its_scope_gets_403(api: Api) -> None:
    api.queue("vision")
    api.queue("other")
    job = api.client.post(
        "/v1/jobs", json={"queue": "vision", "gpus": 1, "command": ["x"]}, headers=api.admin
    ).json()
    api.join("node-a")
    agent_b = api.join("node-b")
    user_other = api.token("user", queues=["other"])
    wrong = []
    for method, path in ROUTES:
        if (method, path) in PUBLIC:
            continue
        url = _fill(path, job_id=job["id"])
        body = {"queue": "vision", "gpus": 1, "command": ["x"]} if path == "/v1/jobs" else {}
        callers = {"agent of node-b": agent_b}
        # A user token sees the queue list and job list (filtered to its queues): not a 403.
        if (method, path) not in {("GET", "/v1/queues"), ("GET", "/v1/jobs")}:
            callers["user of queue other"] = user_other
        for who, caller in callers.items():
            reply = api.client.request(method, url, json=body, headers=caller)
            if reply.status_code != 403:
                wrong.append((method, path, who, reply.status_code))
    assert not wrong


def test_user_token_works_inside_its_queues(api: Api) -> None:
    api.queue("vision")
    api.queue("other")
    user = api.token("user", queues=["vision"])
    job = api.client.post(
        "/v1/jobs", json={"queue": "vision", "gpus": 1, "command": ["x"]}, headers=user
    )
    assert job.status_code == 201 and job.json()["user"] == "t-user"
    api.client.post(
        "/v1/jobs", json={"queue": "other", "gpus": 1, "command": ["x"]}, headers=api.admin
    )
    mine = api.client.get("/v1/jobs", headers=user).json()
    assert [j["queue"] for j in mine] == ["vision"]
    assert [q["name"] for q in api.client.get("/v1/queues", headers=user).json()] == ["vision"]
    assert api.client.get(f"/v1/jobs/{job.json()['id']}/explain", headers=user).status_code == 200
    assert api.client.delete(f"/v1/jobs/{job.json()['id']}", headers=user).status_code == 200
    filtered = api.client.get("/v1/jobs?queue=other", headers=user)
    assert filtered.status_code == 403


def test_admin_makes_user_tokens(api: Api) -> None:
    api.queue("vision")
    made = api.client.post(
        "/v1/tokens", json={"kind": "user", "name": "ana", "queues": ["vision"]}, headers=api.admin
    )
    assert made.status_code == 201 and made.json()["token"].startswith("gsu_")
    header = {"Authorization": f"Bearer {made.json()['token']}"}
    assert api.client.get("/v1/queues", headers=header).status_code == 200
    listed = api.client.get("/v1/tokens", headers=api.admin).json()
    assert [t["token"] for t in listed] == [None, None]  # clear text only at creation
    assert (
        api.client.delete(f"/v1/tokens/{made.json()['id']}", headers=api.admin).status_code == 204
    )
    assert api.client.get("/v1/queues", headers=header).status_code == 401
