"""One Settings object for the service, read from GPUSCHED_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

FENCE_SLACK_SECONDS = 3.0
"""How much later than `fence_seconds` a dead agent's replicas stop themselves: their lease
watchers act 1 s after the agent's own fence, on whole seconds, checking once a second."""


def default_home() -> Path:
    return Path.home() / ".local" / "share" / "gpusched"


class Settings(BaseSettings):
    """Everything the API and the loop can be told; `GPUSCHED_<NAME>` overrides each."""

    model_config = SettingsConfigDict(env_prefix="GPUSCHED_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    db: str = ""
    """Database URL; empty means SQLite at $GPUSCHED_HOME/gpusched.db."""
    redis: str = ""
    """Redis URL (wake-ups across processes, live telemetry, the leader lock); empty: none."""
    redis_prefix: str = "gpusched:"
    """Prefix of every Redis key and channel (several installations may share one Redis)."""
    telemetry_store_seconds: float = 30.0
    """With Redis, GPU readings reach the store at most this often (Redis has the live ones)."""
    cycle_period_seconds: float = 2.0
    wake_debounce_seconds: float = 0.05
    min_cycle_interval_seconds: float = 0.5
    """Wake-ups closer together than this are batched into one cycle (submits come in bursts)."""
    max_cycle_share: float = Field(default=0.25, gt=0, le=1)
    """Cycles fill at most this share of the loop's time: after a cycle of T seconds the next
    starts no sooner than T / max_cycle_share after it began (1 = back to back)."""
    node_timeout_seconds: float = 45.0
    """A node silent this long goes not-ready and its jobs are requeued; must exceed
    `fence_seconds + grace_seconds + FENCE_SLACK_SECONDS`, so that its agent (or, if the agent is
    dead, its replicas' own watchers) has stopped them first (docs/reliability.md)."""
    fence_seconds: float = Field(default=10.0, gt=0)
    """An agent without a successful heartbeat this long stops its replicas (sent in every
    heartbeat reply)."""
    leader_lease_seconds: float = 15.0
    heartbeat_seconds: float = 1.0
    grace_seconds: float = Field(default=30.0, ge=0)
    kill_over_grant: bool = False
    placement: str = "default"
    usage_half_life_seconds: float | None = None
    """Time-based fairness: past usage, decayed with this half-life, lowers over-quota shares."""
    gil_switch_interval_seconds: float = Field(default=0.0005, gt=0, le=0.1)
    """How long a thread may hold the GIL before another gets it (CPython's default is 5 ms).
    The loop's cycle runs in a worker thread beside the API's event loop: each time a request
    waits on I/O it may wait this long to get the GIL back, so the default's 5 ms put the
    submit p99 at ~70 ms while a cycle ran; 0.5 ms gives ~30 ms (docs/service.md)."""
    max_body_bytes: int = 1 << 20
    max_log_upload_bytes: int = 8 << 20
    master_port_base: int = 29500

    @model_validator(mode="after")
    def _fence_before_timeout(self) -> Settings:
        # The node timeout must outlast the agent's fence and the grace of its SIGTERM, or the
        # scheduler would start a lost node's jobs elsewhere while their first copies still run.
        least = self.fence_seconds + self.grace_seconds + FENCE_SLACK_SECONDS
        if self.node_timeout_seconds <= least:
            raise ValueError(
                f"GPUSCHED_NODE_TIMEOUT_SECONDS ({self.node_timeout_seconds:g}) must be greater "
                f"than GPUSCHED_FENCE_SECONDS ({self.fence_seconds:g}) + GPUSCHED_GRACE_SECONDS "
                f"({self.grace_seconds:g}) + {FENCE_SLACK_SECONDS:g} s for a dead agent's "
                f"replicas to stop themselves = {least:g}: a lost node's jobs must have stopped "
                "before they are started elsewhere"
            )
        return self

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'gpusched.db'}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"
