"""Hook registration: several plugins may register the same hook, and each one takes effect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from scheduler.core.actions.allocate import allocate
from scheduler.core.actions.reclaim import reclaim
from scheduler.core.config import CycleConfig
from scheduler.core.decisions import Bind, Evict, ReasonItem
from scheduler.core.hooks import Hooks, Plugin, QueueStanding
from scheduler.core.model import (
    GPU,
    GpuGrant,
    Job,
    JobStatus,
    Node,
    ReplicaPlacement,
    ReplicaRequest,
    Resources,
    Snapshot,
)
from scheduler.core.plugins.placement import PlacementContext, make_policy
from scheduler.core.session import Session

ONE_GPU = ReplicaRequest(1_000, 1_024, 1_000)


def running(job_id: str, queue: str, gpu: int) -> Job:
    return Job(job_id, queue, ONE_GPU, status=JobStatus.RUNNING, started_at=0.0,
               placements=(ReplicaPlacement(0, "n", (GpuGrant(gpu, 1000),)),))


def open_session(snapshot: Snapshot, plugins: Sequence[Plugin]) -> Session:
    return Session(snapshot, CycleConfig(placement="binpack"), now=1_000.0,
                   policy=make_policy("binpack", PlacementContext()), plugins=tuple(plugins))


@dataclass
class Lender:
    """Lets every queue reclaim (a gate that never says no)."""

    name: str = "lender"

    def on_session_open(self, hooks: Hooks) -> None:
        hooks.add_reclaim_gate(lambda job: None)


@dataclass
class VictimsFrom:
    """Names the queues a reclaimer may take from."""

    queues: tuple[str, ...]
    name: str = "victims-from"

    def on_session_open(self, hooks: Hooks) -> None:
        hooks.add_victim_queues(lambda job: self.queues)


@dataclass
class Standing:
    """Knows the standing of some queues."""

    known: Mapping[str, int]
    name: str = "standing"
    shares: dict[str, Resources] = field(default_factory=dict)

    def on_session_open(self, hooks: Hooks) -> None:
        hooks.add_queue_status(self._status)
        hooks.add_fair_shares(lambda: {q: Resources(gpu_milli=g) for q, g in self.known.items()})

    def _status(self, queue: str) -> QueueStanding | None:
        if queue not in self.known:
            return None
        share = Resources(gpu_milli=self.known[queue])
        return QueueStanding(Fraction(1), share, share)


def reclaim_once(plugins: Sequence[Plugin]) -> list[str]:
    """One node with 2 GPUs held by queues b and c; queue a waits for one GPU. Who is evicted?"""
    node = Node("n", 64_000, 512_000, (GPU(0, "A100", 81_920), GPU(1, "A100", 81_920)))
    jobs = (running("jb", "b", 0), running("jc", "c", 1), Job("ja", "a", ONE_GPU))
    session = open_session(Snapshot((node,), jobs), plugins)
    statement = session.statement()
    allocate(session, statement)
    reclaim(session, statement)
    decisions = statement.decisions()
    assert [d.job_id for d in decisions if isinstance(d, Bind)] == ["ja"]
    return [d.job_id for d in decisions if isinstance(d, Evict)]


def test_with_no_victim_queue_hook_any_other_queue_may_lose_its_cheapest_job() -> None:
    # equal priority and work lost (started together): the lower id, jb, is cheapest
    assert reclaim_once([Lender()]) == ["jb"]


def test_two_victim_queue_hooks_both_narrow_where_reclaim_may_take() -> None:
    # {b, c} ∩ {c, d} = {c}: only jc may go, in either registration order
    assert reclaim_once([Lender(), VictimsFrom(("b", "c")), VictimsFrom(("c", "d"))]) == ["jc"]
    assert reclaim_once([Lender(), VictimsFrom(("c", "d")), VictimsFrom(("b", "c"))]) == ["jc"]


def test_victim_queues_never_include_the_reclaimers_own_queue() -> None:
    session = open_session(Snapshot(()), [VictimsFrom(("a", "b")), VictimsFrom(("a", "b", "c"))])
    assert session.victim_queues(Job("ja", "a", ONE_GPU), ["a", "b", "c"]) == ["b"]


def test_the_first_status_hook_that_knows_a_queue_answers_for_it() -> None:
    session = open_session(Snapshot(()), [Standing({"a": 1_000}), Standing({"a": 5_000, "b": 2_000})])
    standing_a, standing_b = session.queue_standing("a"), session.queue_standing("b")
    assert standing_a is not None and standing_a.fair_share.gpu_milli == 1_000
    assert standing_b is not None and standing_b.fair_share.gpu_milli == 2_000
    assert session.queue_standing("z") is None
    # shares merge the same way: a from the first plugin, b from the second
    assert session.fair_shares() == {"a": Resources(gpu_milli=1_000), "b": Resources(gpu_milli=2_000)}


@dataclass
class Veto:
    code: str
    name: str = "veto"
    told: list[str] = field(default_factory=list)

    def on_session_open(self, hooks: Hooks) -> None:
        hooks.add_allocate_veto(lambda job: ReasonItem(self.code, self.code, {}))
        hooks.add_on_allocate(lambda job: self.told.append(job.id))


def test_every_allocation_hook_is_told_and_the_first_veto_gives_the_reason() -> None:
    first, second = Veto("first"), Veto("second")
    jobs = (running("jb", "b", 0),)
    node = Node("n", 64_000, 512_000, (GPU(0, "A100", 81_920),))
    session = open_session(Snapshot((node,), jobs), [first, second])
    # the running job is occupied after the plugins open, so both hooks count it
    assert first.told == ["jb"] and second.told == ["jb"]
    reason = session.veto(Job("ja", "a", ONE_GPU))
    assert reason is not None and reason.code == "first"
