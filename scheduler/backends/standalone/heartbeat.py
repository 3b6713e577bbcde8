"""The scheduler's side of an agent heartbeat: inventory, telemetry, replica states → desired."""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scheduler.protocol import (
    FINISHED_STATES,
    DesiredGpu,
    DesiredReplica,
    JobStatus,
    NodeSpec,
    ReplicaKey,
    ReplicaReport,
    ReplicaState,
)
from scheduler.settings import Settings
from scheduler.store import allocations, events, held, jobs, nodes
from scheduler.store.db import Session
from scheduler.store.tables import AllocationRow, GpuRow, JobRow


@dataclass(frozen=True, slots=True)
class HeartbeatOutcome:
    desired: list[DesiredReplica]
    wake: bool
    """True when the scheduler should run a cycle (a job ended, a share was freed, the node or a
    GPU changed)."""
    acknowledged: list[ReplicaKey] = field(default_factory=list)
    """(job_id, replica, attempt) of every finished report, recorded or ignored as stale: the
    agent may forget each once it is no longer desired."""


def handle(
    session: Session,
    *,
    inventory: NodeSpec,
    telemetry: list[dict[str, Any]],
    replicas: list[ReplicaReport],
    settings: Settings,
    now: float,
    live: bool = False,
) -> HeartbeatOutcome:
    """Record one heartbeat in the caller's transaction and say what should run on the node.

    `live`: Redis holds this heartbeat's telemetry, so the store's copy is refreshed only every
    `settings.telemetry_store_seconds` (health changes are stored at once either way).
    """
    node, changed = nodes.upsert(session, inventory, now=now)
    store_every = settings.telemetry_store_seconds if live else 0.0
    changed |= nodes.apply_telemetry(
        session, node.name, telemetry, now=now, store_every=store_every
    )
    if not node.ready:
        node.ready = True
        events.record(session, "node.ready", at=now, node=node.name)
        changed = True
    node.last_heartbeat_at = now
    acknowledged = []
    for report in replicas:
        changed |= _apply_report(session, node.name, report, now=now, grace=settings.grace_seconds)
        if report.state.finished:
            acknowledged.append(report.key)
    # After the reports: a run they ended just now holds its other replicas' shares, and this
    # same (full) list says which of those still run.
    keys = (((r.job_id, r.replica, r.attempt), r.state.value) for r in replicas)
    gone = held.release_gone(session, node.name, reports=keys)
    session.flush()
    return HeartbeatOutcome(
        desired=desired_for(session, node.name, settings),
        wake=changed or gone > 0,
        acknowledged=acknowledged,
    )


def _apply_report(
    session: Session, node: str, report: ReplicaReport, *, now: float, grace: float
) -> bool:
    """Record one replica's state; True when its job ended. Reports of other attempts, of other
    nodes' bindings or of jobs no longer running are ignored."""
    # Lock the job first: the loop may be evicting or re-binding it concurrently.
    job = jobs.get_for_update(session, report.job_id)
    if job is None:
        return False
    row = jobs.replica(session, job.id, report.replica)
    bound_here = row is not None and row.node == node and row.attempt == report.attempt
    if job.status != JobStatus.RUNNING or not bound_here:
        # Not (or no longer) this binding: the reply's `desired` corrects the agent. But a job
        # whose earlier run succeeded is done, whatever was decided about it meanwhile.
        return _late_success(session, job, node, report, now=now, grace=grace)
    assert row is not None
    state = report.state
    row.over_grant = report.over_grant
    if row.state in FINISHED_STATES:
        return False  # the exit was recorded on first sight
    if state is ReplicaState.RUNNING:
        if row.state != ReplicaState.RUNNING:
            row.state, row.pid = ReplicaState.RUNNING.value, report.pid
            row.started_at = report.started_at or now
            if job.started_at is None:
                job.started_at = row.started_at
                events.record(session, "job.started", at=now, job_id=job.id, node=node)
        return False
    row.state = state.value
    row.exit_code = report.exit_code
    row.finished_at = report.finished_at or now
    row.message = report.message
    label = f"replica {row.replica} on {node}"
    if state is ReplicaState.SUCCEEDED:
        siblings = jobs.replicas_of(session, job.id)
        if all(r.state == ReplicaState.SUCCEEDED for r in siblings):
            job.exit_code = 0
            jobs.stop_running(session, job, now=now, outcome="succeeded", message="", grace=grace)
            return True
        return False
    if state is ReplicaState.FAILED:
        job.exit_code = row.exit_code
        message = f"{label} exited with code {row.exit_code}"
        jobs.stop_running(session, job, now=now, outcome="failed", message=message, grace=grace)
    elif state is ReplicaState.LOST:
        message = f"{label} was lost: {row.message or 'the agent no longer finds it'}"
        jobs.stop_running(session, job, now=now, outcome="lost", message=message, grace=grace)
    else:  # killed while still wanted: the agent's enforcement stopped it
        message = f"{label} was killed by the agent: {row.message or 'no reason given'}"
        jobs.stop_running(session, job, now=now, outcome="failed", message=message, grace=grace)
    return True


def _late_success(
    session: Session, job: JobRow, node: str, report: ReplicaReport, *, now: float, grace: float
) -> bool:
    """Record the success of an earlier attempt of a one-replica job that was requeued (its node
    was declared lost, or it was preempted while it finished): the job is done, and a later
    attempt bound meanwhile is stopped (its share held until it is gone). True when recorded."""
    if (
        report.state is not ReplicaState.SUCCEEDED
        or job.replicas != 1
        or job.status not in (JobStatus.PENDING, JobStatus.RUNNING)
        or report.attempt > job.attempts
        or node not in events.attempt_nodes(session, job.id, report.attempt)
    ):
        return False
    job.exit_code = 0
    message = (
        f"attempt {report.attempt} on {node} succeeded; reported after the job was requeued"
        + (f", so attempt {job.attempts} was stopped" if job.status == JobStatus.RUNNING else "")
    )
    jobs.stop_running(session, job, now=now, outcome="succeeded", message=message, grace=grace)
    return True


def desired_for(session: Session, node: str, settings: Settings) -> list[DesiredReplica]:
    """Every replica of a running job bound to `node`, with its GPU grant and gang wiring."""
    rows = jobs.running_replicas_on(session, node)
    if not rows:
        return []
    job_ids = sorted({job.id for _, job in rows})
    grants: dict[tuple[str, int], list[tuple[AllocationRow, GpuRow]]] = defaultdict(list)
    for alloc, gpu in allocations.on_node_with_gpus(session, job_ids, node):
        grants[(alloc.job_id, alloc.replica)].append((alloc, gpu))
    masters = jobs.master_nodes(session, job_ids)
    desired = []
    for replica, job in rows:
        held = grants.get((job.id, replica.replica), [])
        desired.append(
            DesiredReplica(
                job_id=job.id,
                replica=replica.replica,
                attempt=replica.attempt,
                replicas=job.replicas,
                command=list(job.command),
                env=dict(job.env or {}),
                gpus=[
                    DesiredGpu(index=a.gpu_index, uuid=a.gpu_uuid, milli=a.milli)
                    for a, _ in held
                ],
                gpu_memory_limit_mib=_memory_limit(job, held),
                master_addr=masters.get(job.id, node),
                master_port=settings.master_port_base + zlib.crc32(job.id.encode()) % 1000,
                grace_seconds=settings.grace_seconds,
                kill_over_grant=settings.kill_over_grant,
            )
        )
    return desired


def _memory_limit(job: JobRow, held: list[tuple[AllocationRow, GpuRow]]) -> int | None:
    """GPU memory the replica may use per GPU: asked for, or its share of the GPU; None if whole."""
    if job.gpu_memory_mib:
        return job.gpu_memory_mib
    if len(held) == 1 and held[0][0].milli < 1000 and held[0][1].memory_mib:
        alloc, gpu = held[0]
        return gpu.memory_mib * alloc.milli // 1000
    return None
