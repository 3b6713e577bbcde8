"""Queue CRUD and the numbers GET /v1/queues shows."""

from __future__ import annotations

from tests.api.conftest import Api


def test_queue_crud_and_tree(api: Api) -> None:
    api.queue("org", deserved_gpus=8)
    child = api.queue("vision", parent="org", deserved_gpus=4, limit_gpus=6, priority=2)
    assert child["deserved_gpus"] == 4 and child["limit_gpus"] == 6 and child["parent"] == "org"
    listed = {q["name"]: q for q in api.client.get("/v1/queues", headers=api.admin).json()}
    assert set(listed) == {"org", "vision"}
    for field in ("deserved_gpus", "fair_share_gpus", "allocated_gpus", "pending_jobs"):
        assert field in listed["vision"]
    patched = api.client.patch(
        "/v1/queues/vision", json={"deserved_gpus": 2, "limit_gpus": None}, headers=api.admin
    ).json()
    assert patched["deserved_gpus"] == 2 and patched["limit_gpus"] is None
    assert api.client.delete("/v1/queues/org", headers=api.admin).status_code == 409
    assert api.client.delete("/v1/queues/vision", headers=api.admin).status_code == 204
    assert api.client.get("/v1/queues/vision", headers=api.admin).status_code == 404


def test_queue_errors_say_what_is_wrong(api: Api) -> None:
    api.queue("a")
    dup = api.client.post("/v1/queues", json={"name": "a"}, headers=api.admin)
    assert dup.status_code == 409 and "already exists" in dup.json()["detail"]
    orphan = api.client.post("/v1/queues", json={"name": "b", "parent": "zz"}, headers=api.admin)
    assert orphan.status_code == 404 and "'zz' does not exist" in orphan.json()["detail"]
    bad = api.client.post("/v1/queues", json={"name": "Bad Name"}, headers=api.admin)
    assert bad.status_code == 422
    negative = api.client.post(
        "/v1/queues", json={"name": "c", "deserved_gpus": -1}, headers=api.admin
    )
    assert negative.status_code == 422
    api.queue("b", parent="a")
    loop = api.client.patch("/v1/queues/a", json={"parent": "b"}, headers=api.admin)
    assert loop.status_code == 409 and "loop" in loop.json()["detail"]


def test_pending_jobs_are_counted_up_the_tree(api: Api) -> None:
    api.queue("org")
    api.queue("vision", parent="org")
    for _ in range(3):
        api.client.post(
            "/v1/jobs", json={"queue": "vision", "gpus": 1, "command": ["x"]}, headers=api.admin
        )
    listed = {q["name"]: q for q in api.client.get("/v1/queues", headers=api.admin).json()}
    assert listed["vision"]["pending_jobs"] == 3 and listed["org"]["pending_jobs"] == 3
