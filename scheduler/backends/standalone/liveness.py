"""Nodes whose heartbeats stopped: not ready, and their running jobs lost (requeued or failed)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduler.store import events, held, jobs
from scheduler.store.tables import JobRow, NodeRow, ReplicaRow


def expire_silent_nodes(
    session: Session, *, now: float, timeout: float, since: float, grace: float
) -> tuple[list[str], int]:
    """Mark nodes silent for `timeout` seconds not-ready; returns (nodes, jobs lost). No commit.

    Silence counts from `since` at the earliest (when this scheduler started leading): its own
    outage is never held against the agents. A lost node's held shares are freed (its agent has
    fenced itself); its jobs' replicas elsewhere are held until their agents report them gone.
    """
    cutoff = now - timeout
    if since >= cutoff:
        return [], 0
    silent = list(
        session.scalars(
            select(NodeRow).where(
                NodeRow.ready.is_(True),
                or_(
                    NodeRow.last_heartbeat_at < cutoff,
                    NodeRow.last_heartbeat_at.is_(None) & (NodeRow.created_at < cutoff),
                ),
            )
        )
    )
    if not silent:
        return [], 0
    names = [node.name for node in silent]
    for node in silent:
        node.ready = False
        events.record(
            session,
            "node.not_ready",
            at=now,
            node=node.name,
            data={"last_heartbeat_at": node.last_heartbeat_at},
        )
    lost = list(
        session.scalars(
            select(JobRow)
            .where(
                JobRow.status == "running",
                JobRow.id.in_(select(ReplicaRow.job_id).where(ReplicaRow.node.in_(names))),
            )
            .with_for_update()
        )
    )
    for job in lost:
        message = f"its node stopped sending heartbeats for {timeout:g} s"
        jobs.stop_running(
            session, job, now=now, outcome="lost", message=message, grace=grace, gone_nodes=names
        )
    held.release_nodes(session, names)
    return names, len(lost)
