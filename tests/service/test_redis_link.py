"""Redis carries live telemetry and the leader lock; the store stays the truth without it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, select, update

from scheduler.metrics import ServiceMetrics
from scheduler.service.build import standalone_loop
from scheduler.service.loop import SchedulerLoop
from scheduler.service.redis_link import RedisLink
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.db import session_factory
from scheduler.store.tables import GpuRow, LeaseRow
from tests.api.conftest import Api, node_spec, serve
from tests.support.services import REDIS

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    name = f"gpusched-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    try:
        keys = list(client.scan_iter(f"{name}*"))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # no Redis, no keys: the tests that needed one were skipped or failed already


def _settings(tmp_path: Path, url: str, prefix: str) -> Settings:
    return Settings(home=tmp_path, db="unused://", redis=url, redis_prefix=prefix)


def _sample(utilization: float, *, healthy: bool = True) -> dict[str, Any]:
    return {
        "index": 0,
        "uuid": "GPU-node-a-0",
        "utilization": utilization,
        "memory_used_mib": int(utilization * 100),
        "temperature_c": 40 + utilization / 10,
        "power_w": 100.0 + utilization,
        "healthy": healthy,
        "health_reason": "" if healthy else "XID 79",
    }


def _beat(api: Api, agent: dict[str, str], *samples: dict[str, Any]) -> None:
    reply = api.client.post(
        "/v1/agents/node-a/heartbeat",
        json={"node": node_spec("node-a"), "telemetry": list(samples), "replicas": []},
        headers=agent,
    )
    assert reply.status_code == 200, reply.text


def _shown(api: Api) -> dict[str, Any]:
    reply = api.client.get("/v1/nodes/node-a", headers=api.admin)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["gpus"][0])


def _stored(api: Api) -> tuple[float | None, float | None]:
    with session_factory(api.engine)() as session:
        row = session.scalars(select(GpuRow).where(GpuRow.node == "node-a", GpuRow.index == 0)).one()
        return row.utilization, row.telemetry_at


@pytest.mark.usefixtures("live_redis")
def test_live_telemetry_comes_from_redis_and_reaches_the_store_less_often(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    with serve(engine, _settings(tmp_path, REDIS, prefix)) as api:
        agent = api.join("node-a")
        _beat(api, agent, _sample(10.0))
        assert _stored(api)[0] == 10.0  # the first reading is stored at once
        _beat(api, agent, _sample(55.0))
        gpu = _shown(api)
        assert gpu["utilization"] == 55.0 and gpu["memory_used_mib"] == 5500
        assert gpu["power_w"] == 155.0
        listed = api.client.get("/v1/nodes", headers=api.admin).json()[0]["gpus"][0]
        assert listed["utilization"] == 55.0
        assert _stored(api)[0] == 10.0  # within telemetry_store_seconds: Redis only
        # A health change is stored at once, whatever the age of the stored copy.
        _beat(api, agent, _sample(60.0, healthy=False))
        shown = _shown(api)
        assert shown["healthy"] is False and shown["health_reason"] == "XID 79"
        # Once the stored copy is older than telemetry_store_seconds, it is refreshed.
        with session_factory(api.engine)() as session:
            session.execute(update(GpuRow).values(telemetry_at=GpuRow.telemetry_at - 31.0))
            session.commit()
        _beat(api, agent, _sample(70.0))
        assert _stored(api)[0] == 70.0


def test_without_redis_every_reading_is_stored_and_shown(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    with serve(engine, _settings(tmp_path, DEAD_REDIS, prefix)) as api:
        agent = api.join("node-a")
        for utilization in (10.0, 20.0, 30.0):
            _beat(api, agent, _sample(utilization))
            assert _stored(api)[0] == utilization
            assert _shown(api)["utilization"] == utilization


@pytest.mark.usefixtures("live_redis")
def test_live_values_expire_when_the_agent_goes_quiet(prefix: str) -> None:
    link = RedisLink(REDIS, prefix=prefix)
    assert link.put_telemetry("n", [{"index": 1, "utilization": 5.0}], now=0.0, ttl=0.05)
    assert link.telemetry(["n", "absent"]) == {"n": {1: {"index": 1, "utilization": 5.0}}}
    redis.Redis.from_url(REDIS).pexpire(link.key("telemetry:n"), 1)
    time.sleep(0.01)
    assert link.telemetry(["n"]) == {}


@pytest.mark.usefixtures("live_redis")
def test_a_malformed_live_entry_is_ignored(prefix: str) -> None:
    link = RedisLink(REDIS, prefix=prefix)
    redis.Redis.from_url(REDIS).set(link.key("telemetry:n"), b"not json")
    assert link.telemetry(["n"]) == {}


def _loops(api: Api) -> tuple[SchedulerLoop, SchedulerLoop]:
    """Two replicas' loops on one store, each with its own link to the app's Redis."""
    settings = api.settings
    return tuple(  # type: ignore[return-value]
        standalone_loop(
            sessions=session_factory(api.engine),
            settings=settings,
            wakeup=Wakeup(),
            metrics=ServiceMetrics(),
            redis=RedisLink(settings.redis, prefix=settings.redis_prefix),
        )
        for _ in range(2)
    )


@pytest.mark.usefixtures("live_redis")
def test_the_redis_lock_picks_one_leader_and_the_store_lease_still_fences(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    with serve(engine, _settings(tmp_path, REDIS, prefix)) as api:
        first, second = _loops(api)
        assert first.run_once().leader
        assert not second.run_once().leader
        assert not second.run_once().leader
        # The lock moves (first's Redis lock expired while it was paused), but first's store
        # lease is still valid: second may not act until the lease is first's no longer.
        client = redis.Redis.from_url(REDIS)
        client.set(f"{prefix}leader", second.holder)
        assert not second.run_once().leader
        assert not first.run_once().leader  # first lost the lock: it stops renewing
        with session_factory(api.engine)() as session:
            session.execute(update(LeaseRow).values(expires_at=0))
            session.commit()
        assert second.run_once().leader
        # On shutdown the lock is given up only by its holder.
        first.redis.release_lock(first.holder)  # type: ignore[union-attr]
        assert client.get(f"{prefix}leader") == second.holder.encode()
        second.redis.release_lock(second.holder)  # type: ignore[union-attr]
        assert client.get(f"{prefix}leader") is None


def test_without_redis_the_store_lease_alone_decides(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    with serve(engine, _settings(tmp_path, DEAD_REDIS, prefix)) as api:
        first, second = _loops(api)
        assert first.run_once().leader
        assert not second.run_once().leader
        assert first.run_once().leader


def _revoke_and_ask_the_other(api_a: Api, api_b: Api, *, wait: float) -> int:
    """A user token used on B, revoked through A; B's answer to it `wait` seconds later at most."""
    api_a.queue("vision")
    created = api_a.client.post(
        "/v1/tokens",
        json={"kind": "user", "name": "alice", "queues": ["vision"]},
        headers=api_a.admin,
    ).json()
    user = {"Authorization": f"Bearer {created['token']}"}
    assert api_b.client.get("/v1/jobs", headers=user).status_code == 200  # now cached on B
    reply = api_a.client.delete(f"/v1/tokens/{created['id']}", headers=api_a.admin)
    assert reply.status_code == 204
    deadline = time.monotonic() + wait
    while True:
        code = api_b.client.get("/v1/jobs", headers=user).status_code
        if code != 200 or time.monotonic() > deadline:
            return code
        time.sleep(0.02)


@pytest.mark.usefixtures("live_redis")
def test_a_token_revoked_through_one_replica_is_refused_by_the_others_at_once(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path, REDIS, prefix)
    with serve(engine, settings) as first, serve(engine, settings) as second:
        second.client.app.state.principals.ttl = 3600.0  # type: ignore[attr-defined]
        channel = f"{prefix}tokens"
        client = redis.Redis.from_url(REDIS)
        for _ in range(250):  # until both replicas' revocation listeners have subscribed
            if client.pubsub_numsub(channel)[0][1] >= 2:
                break
            time.sleep(0.02)
        assert _revoke_and_ask_the_other(first, second, wait=2.0) == 401


def test_without_redis_another_replica_trusts_its_cache_until_the_ttl(
    engine: Engine, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path, DEAD_REDIS, prefix)
    with serve(engine, settings) as first, serve(engine, settings) as second:
        second.client.app.state.principals.ttl = 3600.0  # type: ignore[attr-defined]
        assert _revoke_and_ask_the_other(first, second, wait=0.3) == 200
