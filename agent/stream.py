"""Optional Redis stream of telemetry (`--redis URL`): live data that may be lost, capped."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

log = logging.getLogger(__name__)
STREAM = "gpusched:telemetry"


class TelemetryStream:
    """XADDs one entry per node and sample to a stream trimmed to about `maxlen` entries."""

    def __init__(self, url: str, *, stream: str = STREAM, maxlen: int = 10_000) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.stream = stream
        self._maxlen = maxlen
        self._quiet_until = 0.0

    def publish(self, node: str, telemetry: list[dict[str, Any]]) -> None:
        """Add one entry; Redis being down only costs a warning a minute (telemetry may be lost)."""
        fields: dict[Any, Any] = {"node": node, "ts": f"{time.time():.3f}",
                                  "telemetry": json.dumps(telemetry)}
        try:
            self._redis.xadd(self.stream, fields, maxlen=self._maxlen, approximate=True)
        except redis.RedisError as exc:
            if time.monotonic() >= self._quiet_until:
                log.warning("telemetry to Redis failed (continuing without it): %s", exc)
                self._quiet_until = time.monotonic() + 60.0

    def close(self) -> None:
        self._redis.close()
