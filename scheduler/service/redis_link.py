"""What Redis carries when it is configured: live GPU telemetry and the leader lock.

Redis only ever makes things faster or fresher; the store stays the truth, so losing Redis
loses no job and never lets two schedulers act:

- Telemetry: every heartbeat's samples are kept in Redis under one key per node (expiring after
  a few missed heartbeats). The store keeps a copy written at most every
  `telemetry_store_seconds` per GPU, and at once when a GPU's health changes, so the database
  is not written for every GPU every second. `GET /v1/nodes` shows the Redis values; without
  Redis it shows the stored copy (at most that old).
- Leader lock: `SET NX PX` with the holder's id, renewed by a compare-and-expire script. It
  decides which replica tries to lead, so standbys do not write the database each pass. The
  store's lease stays the fence: it is renewed inside every commit transaction, so a leader
  whose Redis lock expired while it was paused commits nothing once another has the lease.

After a Redis error the link stays quiet for `RETRY_SECONDS` (callers fall back to the store)
instead of paying a connection timeout on every request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0

_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLink:
    """A lazily connected, thread-safe Redis client for telemetry and the leader lock."""

    def __init__(self, url: str, *, prefix: str = "gpusched:", timeout: float = 0.5) -> None:
        self.url = url
        self.prefix = prefix
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._quiet_until = 0.0

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- telemetry ----------------------------------------------------------------------------

    def put_telemetry(
        self, node: str, samples: Sequence[dict[str, Any]], *, now: float, ttl: float
    ) -> bool:
        """Keep the node's latest samples for `ttl` seconds; False when Redis is unavailable."""
        value = json.dumps({"at": now, "gpus": list(samples)}, allow_nan=False, default=str)
        return self._call(lambda c: c.set(self.key(f"telemetry:{node}"), value, px=_ms(ttl)))

    def telemetry(self, nodes: Sequence[str]) -> dict[str, dict[int, dict[str, Any]]]:
        """Latest live samples per node and GPU index; empty when Redis is unavailable."""
        if not nodes:
            return {}
        values: list[bytes | None] = []

        def read(client: Any) -> bool:
            values.extend(client.mget([self.key(f"telemetry:{name}") for name in nodes]))
            return True

        if not self._call(read):
            return {}
        live: dict[str, dict[int, dict[str, Any]]] = {}
        for name, raw in zip(nodes, values, strict=True):
            if raw is None:
                continue
            try:
                gpus = json.loads(raw)["gpus"]
                live[name] = {int(sample["index"]): sample for sample in gpus}
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring malformed live telemetry of node %s in Redis", name)
        return live

    # -- messages -----------------------------------------------------------------------------

    def publish(self, channel: str, message: bytes = b"1") -> bool:
        """Publish on `channel` as given (no prefix); False when Redis is unavailable."""
        return self._call(lambda c: c.publish(channel, message) is not None)

    # -- leader lock --------------------------------------------------------------------------

    def hold_lock(self, holder: str, *, ttl: float) -> bool | None:
        """Take or renew the leader lock: True held, False held by another, None Redis down."""
        result: list[int] = []

        def hold(client: Any) -> bool:
            result.append(int(client.eval(_HOLD, 1, self.key("leader"), holder, _ms(ttl))))
            return True

        if not self._call(hold):
            return None
        return result[0] == 1

    def release_lock(self, holder: str) -> None:
        """Give the lock up if `holder` still has it (best effort)."""
        self._call(lambda c: bool(c.eval(_RELEASE, 1, self.key("leader"), holder)) or True)

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, action: Any) -> bool:
        if time.monotonic() < self._quiet_until:
            return False
        try:
            return bool(action(self._connect()))
        except Exception as error:  # any Redis failure means: use the store
            with self._lock:
                self._client = None
                self._quiet_until = time.monotonic() + RETRY_SECONDS
            log.warning("Redis at %s failed (%s); using the store for %.0f s", self.url, error,
                        RETRY_SECONDS)
            return False

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
                )
            return self._client


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
