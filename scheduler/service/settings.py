"""One Settings object for the service, read from GPUSCHED_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    node_timeout_seconds: float = 30.0
    """A node whose last heartbeat is older than this goes not-ready; its jobs are lost."""
    leader_lease_seconds: float = 15.0
    heartbeat_seconds: float = 1.0
    grace_seconds: float = 30.0
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

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'gpusched.db'}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"
