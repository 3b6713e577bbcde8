"""The memory watchdog: a replica using more GPU memory than its grant for too long is flagged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.spec import ReplicaKey


@dataclass(frozen=True, slots=True)
class OverGrant:
    """A replica over its per-GPU memory grant for longer than the grace period."""

    key: ReplicaKey
    gpu_uuid: str
    used_mib: int
    limit_mib: int
    seconds: float

    def describe(self) -> str:
        return (f"uses {self.used_mib} MiB of GPU memory on {self.gpu_uuid}, over its grant of "
                f"{self.limit_mib} MiB for {self.seconds:.0f} s")


class Watchdog:
    """Compares per-replica GPU memory (from NVML processes) with each replica's grant."""

    def __init__(self, *, grace_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace_seconds
        self._clock = clock
        self._over_since: dict[ReplicaKey, float] = {}

    def check(
        self,
        *,
        usage: dict[ReplicaKey, dict[str, int]],
        limits: dict[ReplicaKey, int | None],
    ) -> list[OverGrant]:
        """Replicas over their grant beyond the grace period; usage is MiB per GPU UUID."""
        now = self._clock()
        verdicts: list[OverGrant] = []
        for key, limit in limits.items():
            worst = max(usage.get(key, {}).items(), key=lambda item: item[1], default=None)
            if not limit or worst is None or worst[1] <= limit:
                self._over_since.pop(key, None)
                continue
            since = self._over_since.setdefault(key, now)
            if now - since >= self._grace:
                verdicts.append(OverGrant(key, worst[0], worst[1], limit, now - since))
        for key in set(self._over_since) - set(limits):
            del self._over_since[key]  # replicas that ended
        return verdicts
