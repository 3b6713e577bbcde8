"""The tables. GPU shares are thousandths (milli); times are Unix seconds (float)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class QueueRow(Base):
    """A node of the queue tree; jobs are submitted to leaves."""

    __tablename__ = "queues"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("queues.name", ondelete="RESTRICT"), index=True
    )
    deserved_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    limit_milli: Mapped[int | None] = mapped_column(BigInteger)
    over_quota_weight: Mapped[float] = mapped_column(Float, default=1.0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    fair_share_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    """Written by the scheduling loop after every cycle."""
    created_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    """A job of `replicas` identical replicas; its request is per replica."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("token_id", "idempotency_key", name="uq_jobs_idempotency"),
        CheckConstraint(
            "status IN ('pending','running','succeeded','failed','preempted','cancelled')",
            name="ck_jobs_status",
        ),
        CheckConstraint("replicas >= 1", name="ck_jobs_replicas"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_queue_status", "queue", "status"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), ForeignKey("queues.name", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(128), default="")
    user: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    gpu_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu_memory_mib: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_millis: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_mib: Mapped[int] = mapped_column(BigInteger, default=0)
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    preemptible: Mapped[bool] = mapped_column(Boolean, default=True)
    requeue: Mapped[bool] = mapped_column(Boolean, default=True)
    command: Mapped[list[Any]] = mapped_column(JSON)
    env: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    token_id: Mapped[int | None] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    last_checkpoint_at: Mapped[float | None] = mapped_column(Float)


class NodeRow(Base):
    """A machine that runs an agent; `ready` goes False when its heartbeats stop."""

    __tablename__ = "nodes"
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    cpu_millis: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_mib: Mapped[int] = mapped_column(BigInteger, default=0)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enforcement: Mapped[str] = mapped_column(String(16), default="none")
    ready: Mapped[bool] = mapped_column(Boolean, default=True)
    cordoned: Mapped[bool] = mapped_column(Boolean, default=False)
    last_heartbeat_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)


class GpuRow(Base):
    """One GPU of a node; `allocated_milli` is the sum of its allocations, checked ≤ 1000."""

    __tablename__ = "gpus"
    __table_args__ = (
        CheckConstraint(
            "allocated_milli >= 0 AND allocated_milli <= 1000", name="ck_gpus_allocated_milli"
        ),
    )
    node: Mapped[str] = mapped_column(
        String(253), ForeignKey("nodes.name", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(96), default="")
    model: Mapped[str] = mapped_column(String(64), default="")
    memory_mib: Mapped[int] = mapped_column(BigInteger, default=0)
    compute_capability: Mapped[str] = mapped_column(String(16), default="")
    mig_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    health_reason: Mapped[str] = mapped_column(Text, default="")
    allocated_milli: Mapped[int] = mapped_column(Integer, default=0)
    utilization: Mapped[float | None] = mapped_column(Float)
    memory_used_mib: Mapped[int | None] = mapped_column(BigInteger)
    telemetry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    telemetry_at: Mapped[float | None] = mapped_column(Float)


class ReplicaRow(Base):
    """One replica of a running job, bound to a node; deleted when the job stops running."""

    __tablename__ = "replicas"
    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    replica: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(
        String(253), ForeignKey("nodes.name", ondelete="RESTRICT"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="assigned")
    pid: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    over_grant: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """The job's `attempts` at the bind that made this replica: reports must name it."""


class HeldRow(Base):
    """A replica of an ended run whose process may still be stopping: its share stays charged.

    Its GPU shares stay in `gpus.allocated_milli` (so the GPU check still guards them) until the
    agent reports (job, replica, attempt) gone or the node is declared lost (migration 0003).
    """

    __tablename__ = "held"
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    replica: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(253), index=True)
    gpus: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[[gpu_index, milli], ...]: what it holds of each GPU of `node`."""
    cpu_millis: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_mib: Mapped[int] = mapped_column(BigInteger, default=0)
    since: Mapped[float] = mapped_column(Float)
    stopping_until: Mapped[float] = mapped_column(Float)
    """When its grace ends (SIGKILL follows); the share is freed only when the agent says so."""


class AllocationRow(Base):
    """A share of one GPU held by one replica.

    Two guards keep a GPU from being handed out twice: one row per (replica, GPU), and the GPU's
    `allocated_milli` (checked 0..1000) moves with every insert and delete in the same transaction.
    On PostgreSQL the foreign keys here and on `replicas` are not in the schema (migration 0002):
    the bind statement checks the same references for a whole cycle at once.
    """

    __tablename__ = "allocations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["job_id", "replica"], ["replicas.job_id", "replicas.replica"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["node", "gpu_index"], ["gpus.node", "gpus.index"]),
        CheckConstraint("milli > 0 AND milli <= 1000", name="ck_allocations_milli"),
        Index("ix_allocations_gpu", "node", "gpu_index"),
    )
    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    replica: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(253), primary_key=True)
    gpu_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    gpu_uuid: Mapped[str] = mapped_column(String(96), default="")
    milli: Mapped[int] = mapped_column(Integer)


class TokenRow(Base):
    """A bearer token, stored as its SHA-256; kind admin/user/agent/join."""

    __tablename__ = "tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('admin','user','agent','join')", name="ck_tokens_kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(128), default="")
    queues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    node: Mapped[str | None] = mapped_column(String(253), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    uses_left: Mapped[int | None] = mapped_column(Integer)
    """Join tokens: joins still allowed (None: no limit)."""
    allow_replace: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Join tokens: a join with `replace: true` may take over the name of a not-ready node."""


class EventRow(Base):
    """Append-only log of every state change (never updated, never deleted)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(48))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    node: Mapped[str | None] = mapped_column(String(253))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LeaseRow(Base):
    """A named lease (the scheduler's leader lock): held by `holder` until `expires_at`."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
