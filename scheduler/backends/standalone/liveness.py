"""Nodes whose heartbeats stopped: not ready, and their running jobs lost (requeued or failed)."""

from __future__ import annotations

from scheduler.store import events, held, jobs, nodes
from scheduler.store.db import Session


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
    silent = nodes.silent_ready(session, cutoff=cutoff)
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
    lost = jobs.running_on_for_update(session, names)
    for job in lost:
        message = f"its node stopped sending heartbeats for {timeout:g} s"
        jobs.stop_running(
            session, job, now=now, outcome="lost", message=message, grace=grace, gone_nodes=names
        )
    held.release_nodes(session, names)
    return names, len(lost)
