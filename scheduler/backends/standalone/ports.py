"""The standalone backend behind the loop's ports: the store is the cluster, and the agents
carry decisions out by reading them in their heartbeats' replies."""

from __future__ import annotations

from scheduler.backends.standalone import apply, liveness, snapshot
from scheduler.core.decisions import CycleResult, PendingReason
from scheduler.core.model import Snapshot
from scheduler.ports import Applied, NotLeader
from scheduler.settings import Settings
from scheduler.store import cluster, lease
from scheduler.store.db import Session, SessionFactory


class StoreSource:
    """ClusterSource: the store's nodes, GPUs, queues, held shares and live jobs."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def snapshot(self) -> Snapshot:
        with self.sessions() as session:
            state = snapshot.load(session)
            session.rollback()  # release the read transaction before the (long) decision
        return state.snapshot


class StoreSink:
    """DecisionSink: decisions committed in one transaction, then the pending reasons in another,
    each fenced by the store's lease."""

    def __init__(self, sessions: SessionFactory, *, holder: str, settings: Settings) -> None:
        self.sessions = sessions
        self.holder = holder
        self.settings = settings
        self._reasons: dict[str, PendingReason] = {}
        """Job id → the reason last stored, so unchanged reasons are not rewritten."""

    def apply(self, result: CycleResult, *, snapshot: Snapshot, now: float) -> Applied:
        state = store_state(snapshot)
        with self.sessions() as session:
            self._fence(session, now)
            applied = apply.write_decisions(
                session, result=result, state=state, now=now, grace=self.settings.grace_seconds
            )
            session.commit()
        # The reasons follow in their own transaction: the decisions are visible (and agents can
        # start jobs) without waiting for thousands of explanations to be written.
        with self.sessions() as session:
            try:
                self._fence(session, now)
                apply.write_reasons(session, result.reasons, self._reasons)
                session.commit()
            except Exception:
                self._reasons.clear()  # what was stored is unknown now: rewrite all next time
                raise
            applied.jobs_by_status = cluster.jobs_by_status(session)
        return applied

    def forget(self) -> None:
        self._reasons.clear()

    def _fence(self, session: Session, now: float) -> None:
        ttl = self.settings.leader_lease_seconds
        if not lease.fence(session, holder=self.holder, now=now, ttl=ttl):
            raise NotLeader(f"{self.holder} lost the scheduler lease")


class StoreLiveness:
    """NodeLiveness: agents' heartbeats stopped for `node_timeout_seconds` → node not ready."""

    def __init__(self, sessions: SessionFactory, *, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def expire_silent(self, *, now: float, since: float) -> int:
        with self.sessions() as session:
            _, lost = liveness.expire_silent_nodes(
                session,
                now=now,
                timeout=self.settings.node_timeout_seconds,
                since=since,
                grace=self.settings.grace_seconds,
            )
            session.commit()
        return lost


def store_state(snapshot_: Snapshot) -> snapshot.StoreState:
    """The store facts the decision writes need, as the snapshot holds them."""
    return snapshot.StoreState(
        snapshot=snapshot_,
        gpu_uuids={(node.name, gpu.index): gpu.uuid for node in snapshot_.nodes for gpu in node.gpus},
        created_at={job.id: job.created_at for job in snapshot_.jobs},
    )
