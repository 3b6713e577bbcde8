"""Fair share between queues: order, limits, and who may be reclaimed from.

Shares come from the pure division in scheduler.core.fairshare; this plugin keeps each queue's
allocation up to date as the statement binds and evicts, and answers the session's questions.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from scheduler.core.decisions import ReasonItem
from scheduler.core.fairshare import (
    QueueTreeError,
    build_tree,
    order_pending_jobs,
    snapshot_fair_shares,
)
from scheduler.core.fairshare.hierarchy import queue_path_order_key
from scheduler.core.fairshare.ordering import Ratio, scaled_ratio
from scheduler.core.fairshare.reclaim import may_be_reclaimed, may_reclaim_for
from scheduler.core.fairshare.tree import QueueTree
from scheduler.core.hooks import Hooks, QueueStanding
from scheduler.core.model import MILLI_PER_GPU, Job, JobStatus, Resources, Snapshot

Gate = Callable[[Job], ReasonItem | None]


def _gpus(milli: int) -> str:
    return f"{milli / MILLI_PER_GPU:.1f}"


class ProportionPlugin:
    """Queues furthest below their fair share go first; limits hold; reclaim stops at fair shares."""

    name = "proportion"

    def __init__(self, snapshot: Snapshot, *, time_based: bool = False) -> None:
        self.snapshot = snapshot
        self.time_based = time_based
        self.tree: QueueTree | None = None
        self.fair_share: dict[str, Resources] = {}
        self.allocated: dict[str, Resources] = {}
        self.ancestors: dict[str, list[str]] = {}
        self.paths: dict[str, tuple[str, ...]] = {}
        self._memo: dict[tuple[object, ...], object] = {}
        """Answers that depend only on what queues hold; emptied whenever that changes."""
        self.ratio: Ratio = Fraction
        self.error: str | None = None

    def on_session_open(self, hooks: Hooks) -> None:
        if not self.snapshot.queues:
            return
        try:
            self.tree = build_tree(self.snapshot.queues)
            self.fair_share = snapshot_fair_shares(
                self.snapshot, usage=dict(self.snapshot.queue_usage) if self.time_based else None
            )
        except QueueTreeError as error:  # a broken tree places nothing, and says why
            self.error = str(error)
            hooks.add_allocate_veto(self._broken)
            return
        tree = self.tree
        for name in tree.queues:
            chain, parent = [name], tree.queues[name].parent
            while parent is not None:
                chain.append(parent)
                parent = tree.queues[parent].parent
            self.ancestors[name] = chain
            self.paths[name] = tuple(reversed(chain))
            self.allocated[name] = Resources()
        # Shares stay fixed for the session, so queue keys can be plain scaled integers.
        self.ratio = scaled_ratio(self.fair_share.values()) or Fraction
        # Running jobs are counted by the allocation hooks: the session occupies them after this.
        hooks.add_fair_shares(lambda: self.fair_share)
        self._rank_users(hooks)
        hooks.add_queue_order(self._queue_key)
        hooks.add_allocate_veto(self._gate)
        hooks.add_on_allocate(lambda job: self._add(job, 1))
        hooks.add_on_deallocate(lambda job: self._add(job, -1))
        hooks.add_reclaim_veto(self._not_reclaimable)
        hooks.add_reclaim_gate(self._reclaim_gate)
        hooks.add_victim_queues(self._over_share)
        hooks.add_queue_status(self.status)

    # -- bookkeeping -----------------------------------------------------------------------
    def _add(self, job: Job, sign: int) -> None:
        amount = job.total_request.scaled(sign)
        for name in self.ancestors.get(job.queue, ()):
            self.allocated[name] = self.allocated[name] + amount
        self._memo.clear()  # queue keys and reclaim gates depend on what queues hold

    def _rank_users(self, hooks: Hooks) -> None:
        """Inside each leaf queue, no single user starves the others (see fairshare.users)."""
        by_queue: dict[str, list[Job]] = {}
        jobs_by_id = {job.id: job for job in self.snapshot.jobs}  # the session's jobs, one per id
        for job in jobs_by_id.values():
            if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
                by_queue.setdefault(job.queue, []).append(job)
        rank: dict[str, int] = {}
        for queue, jobs in by_queue.items():
            if len({job.user for job in jobs}) == 1:
                continue  # one user: the plain priority-then-age order is already fair
            share = self.fair_share.get(queue, Resources())
            for position, job in enumerate(order_pending_jobs(jobs, queue_share=share)):
                rank[job.id] = position
        hooks.add_job_order(lambda job: rank.get(job.id, 0))

    def _queue_key(self, queue: str) -> object:
        """Through the tree: at every level, the subtree furthest below its fair share first."""
        memo_key = ("queue-key", queue)
        if memo_key in self._memo:
            return self._memo[memo_key]
        tree = self.tree
        if tree is None or queue not in tree.queues:
            return (1,)  # jobs of unknown queues last (they are vetoed with a reason)
        key = (0, queue_path_order_key(self.paths[queue], allocated=self.allocated,
                                       fair_shares=self.fair_share, ratio=self.ratio))
        self._memo[memo_key] = key
        return key

    # -- questions -------------------------------------------------------------------------
    def _broken(self, job: Job) -> ReasonItem:
        return ReasonItem("queue-tree", f"the queue tree is invalid: {self.error}", {})

    def _gate(self, job: Job) -> ReasonItem | None:
        tree = self.tree
        assert tree is not None
        if job.queue not in tree.queues:
            return ReasonItem("queue-unknown", f"queue {job.queue} does not exist", {"queue": job.queue})
        if not tree.is_leaf(job.queue):
            return ReasonItem("queue-not-leaf", f"queue {job.queue} has child queues; only leaves hold jobs",
                              {"queue": job.queue})
        want = job.total_request
        for name in self.ancestors[job.queue]:
            limit = tree.queues[name].limit
            if limit is None:
                continue
            # Every resource of a limit is a cap (callers fill unlimited ones with a huge number).
            if not (self.allocated[name] + want).fits_in(limit):
                held = self.allocated[name]
                return ReasonItem(
                    "queue-limit",
                    f"queue {name} is at its limit ({_gpus(held.gpu_milli)} of "
                    f"{_gpus(limit.gpu_milli)} GPUs held; this job needs {_gpus(want.gpu_milli)})",
                    {"queue": name, "held_gpus": held.gpus, "limit_gpus": limit.gpus},
                )
        if not job.preemptible:
            # Only preemptible jobs may borrow: a job that cannot be reclaimed must fit the quota.
            deserved = tree.queues[job.queue].deserved
            after = self.allocated[job.queue] + want
            if after.gpu_milli > deserved.gpu_milli:
                return ReasonItem(
                    "deserved-quota",
                    f"queue {job.queue} would hold {_gpus(after.gpu_milli)} GPUs, above its deserved "
                    f"{_gpus(deserved.gpu_milli)}; only preemptible jobs may borrow idle GPUs",
                    {"queue": job.queue, "deserved_gpus": deserved.gpus},
                )
        return None

    def _over_share(self, job: Job) -> list[str]:
        """Leaf queues other than the job's that hold more than their fair share of GPUs."""
        tree = self.tree
        assert tree is not None
        return [
            name for name, held in self.allocated.items()
            if name != job.queue and tree.is_leaf(name)
            and held.gpu_milli > self.fair_share.get(name, Resources()).gpu_milli
        ]

    def _reclaim_gate(self, job: Job) -> ReasonItem | None:
        """A queue may reclaim only while it stays within its fair share with the job placed."""
        memo_key = ("reclaim-gate", job.queue, job.total_request)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._reclaim_gate_now(job)
        return self._memo[memo_key]  # type: ignore[return-value]

    def _reclaim_gate_now(self, job: Job) -> ReasonItem | None:
        share = self.fair_share.get(job.queue, Resources())
        held = self.allocated.get(job.queue, Resources())
        after = held + job.total_request
        if may_reclaim_for(allocated=held, fair_share=share, request=job.total_request):
            return None
        return ReasonItem(
            "fair-share-reached",
            f"reclaim cannot help: with this job queue {job.queue} would hold "
            f"{_gpus(after.gpu_milli)} GPUs, above its fair share of {_gpus(share.gpu_milli)}",
            {"queue": job.queue, "fair_share_gpus": share.gpus, "would_hold_gpus": after.gpus},
        )

    def _not_reclaimable(self, reclaimer: Job, victim: Job) -> bool:
        """True when taking `victim` would push its queue below its fair share (or it is ours)."""
        if victim.queue == reclaimer.queue:
            return True
        share = self.fair_share.get(victim.queue)
        if share is None:
            return False  # a job of an unknown queue has no share to protect
        return not may_be_reclaimed(allocated=self.allocated[victim.queue], fair_share=share,
                                    request=victim.total_request)

    def status(self, queue: str) -> QueueStanding | None:
        """(allocated/fair-share ratio, allocated, fair share) of a queue, for explanations."""
        share = self.fair_share.get(queue)
        if share is None:
            return None
        held = self.allocated.get(queue, Resources())
        ratio = Fraction(held.gpu_milli, share.gpu_milli) if share.gpu_milli else Fraction(0)
        return QueueStanding(ratio, held, share)
