"""Borrowing, reclaim to the fair share, preemption, gangs, limits — and explanations."""

from __future__ import annotations

from dataclasses import replace

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Evict
from scheduler.core.model import GpuGrant, JobStatus, ReplicaPlacement, Snapshot
from tests.core.fairness_scenario import gpus_by_queue, queue, settle
from tests.core.scenario import job, node

TWO_NODES = [node("a", gpus=4), node("b", gpus=4)]  # 8 GPUs


def running(job_id: str, queue_name: str, node_name: str, gpu: int, *, started: float = 0.0,
            priority: int = 0, checkpoint: float | None = None, gpus: int = 1):
    grants = tuple(GpuGrant(gpu + g, 1000) for g in range(gpus))
    return replace(job(job_id, gpus=gpus, queue=queue_name, priority=priority),
                   status=JobStatus.RUNNING, started_at=started, last_checkpoint_at=checkpoint,
                   placements=(ReplicaPlacement(0, node_name, grants),))


def test_idle_gpus_are_lent_to_the_queue_with_work() -> None:
    queues = [queue("vision", 4), queue("nlp", 4)]
    jobs = [job(f"v{i}", gpus=1, queue="vision", created=i + 1) for i in range(8)]
    final, _ = settle(TWO_NODES, queues, jobs)
    # nlp has no demand: its 4 deserved GPUs go to vision → vision runs all 8
    assert gpus_by_queue(final) == {"vision": 8}


def test_reclaim_goes_to_the_fair_share_not_just_the_deserved_quota() -> None:
    # deserved 2 + 2 of 8 GPUs, equal weights: fair share = 2 + (8−4)/2 = 4 each.
    queues = [queue("vision", 2), queue("nlp", 2)]
    jobs = [running(f"v{i}", "vision", "ab"[i // 4], i % 4) for i in range(8)]
    jobs += [job(f"n{i}", gpus=1, queue="nlp", created=10 + i) for i in range(6)]
    final, results = settle(TWO_NODES, queues, jobs)
    # nlp reclaims 4 (its fair share), not only its deserved 2; vision keeps its share of 4
    assert gpus_by_queue(final) == {"vision": 4, "nlp": 4}
    evictions = [d for d in results[0].decisions if isinstance(d, Evict)]
    assert len(evictions) == 4 and all(d.action == "reclaim" for d in evictions)
    # the two nlp jobs that do not fit say why, with numbers
    waiting = [j for j in final.jobs if j.queue == "nlp" and j.status is JobStatus.PENDING]
    assert len(waiting) == 2


def test_reclaim_takes_the_jobs_that_lose_least_work() -> None:
    queues = [queue("vision", 0), queue("nlp", 1)]
    # v0 checkpointed at t=900 (100 s lost at t=1000); v1 started at 500, no checkpoint (500 s lost)
    jobs = [running("v0", "vision", "a", 0, started=0, checkpoint=900),
            running("v1", "vision", "a", 1, started=500),
            job("n0", gpus=1, queue="nlp")]
    result = run_cycle(Snapshot((node("a", gpus=2),), tuple(jobs), tuple(queues)),
                       CycleConfig(min_runtime_seconds=0), now=1000.0)
    assert [d.job_id for d in result.decisions if isinstance(d, Evict)] == ["v0"]


def test_fresh_jobs_are_protected_by_the_minimum_runtime() -> None:
    queues = [queue("vision", 0), queue("nlp", 1)]
    jobs = [running("v0", "vision", "a", 0, started=990), job("n0", gpus=1, queue="nlp")]
    snapshot = Snapshot((node("a", gpus=1),), tuple(jobs), tuple(queues))
    result = run_cycle(snapshot, CycleConfig(min_runtime_seconds=60), now=1000.0)
    assert result.decisions == ()
    messages = [item.message for item in result.reasons["n0"].items]
    assert any("reclaim cannot help" in m for m in messages)


def test_non_preemptible_jobs_do_not_borrow_beyond_the_deserved_quota() -> None:
    queues = [queue("vision", 2), queue("nlp", 6)]
    jobs = [replace(job(f"v{i}", gpus=1, queue="vision", created=i + 1), preemptible=False)
            for i in range(4)]
    final, results = settle(TWO_NODES, queues, jobs)
    assert gpus_by_queue(final) == {"vision": 2}
    reason = results[-1].reasons["v2"]
    assert reason.items[0].code == "deserved-quota"
    assert "above its deserved 2.0" in reason.items[0].message


def test_queue_limit_holds_and_explains_itself() -> None:
    queues = [queue("vision", 1, limit=2), queue("nlp", 1)]
    jobs = [job(f"v{i}", gpus=1, queue="vision", created=i + 1) for i in range(3)]
    final, results = settle(TWO_NODES, queues, jobs)
    assert gpus_by_queue(final) == {"vision": 2}
    message = results[-1].reasons["v2"].items[0].message
    assert message == "queue vision is at its limit (2.0 of 2.0 GPUs held; this job needs 1.0)"


def test_higher_priority_preempts_lower_priority_inside_a_queue() -> None:
    queues = [queue("vision", 2)]
    jobs = [running("low", "vision", "a", 0, priority=0), running("mid", "vision", "a", 1, priority=5),
            job("high", gpus=1, queue="vision", priority=10)]
    final, results = settle([node("a", gpus=2)], queues, jobs)
    evicted = [d for d in results[0].decisions if isinstance(d, Evict)]
    assert [(d.job_id, d.action) for d in evicted] == [("low", "preempt")]
    states = {j.id: j.status for j in final.jobs}
    assert states["high"] is JobStatus.RUNNING and states["low"] is JobStatus.PENDING


def test_reclaim_for_a_gang_evicts_enough_for_the_whole_gang_or_nothing() -> None:
    queues = [queue("vision", 0), queue("nlp", 8)]
    # vision borrows 6 of 8 GPUs; nlp's gang needs 2 replicas × 4 GPUs = both whole nodes
    jobs = [running(f"v{i}", "vision", "ab"[i // 3], i % 3) for i in range(6)]
    jobs.append(job("gang", gpus=4, replicas=2, queue="nlp"))
    final, results = settle(TWO_NODES, queues, jobs)
    assert gpus_by_queue(final) == {"nlp": 8}
    assert sum(isinstance(d, Evict) for d in results[0].decisions) == 6


def test_gang_too_big_for_the_queue_share_evicts_nothing() -> None:
    # nlp's fair share is 4 (deserved 4 of 8, vision wants the rest): an 8-GPU gang can't reclaim
    queues = [queue("vision", 4), queue("nlp", 4)]
    jobs = [running(f"v{i}", "vision", "ab"[i // 4], i % 4) for i in range(8)]
    jobs.append(job("gang", gpus=4, replicas=2, queue="nlp"))
    _, results = settle(TWO_NODES, queues, jobs)
    assert results[0].decisions == ()
    codes = [item.code for item in results[0].reasons["gang"].items]
    assert "fair-share-reached" in codes


def test_higher_priority_queue_gets_idle_capacity_first() -> None:
    # 8 GPUs, no deserved quotas: the priority-1 queue takes all it asks before the other
    queues = [queue("prod", 0, priority=1), queue("research", 0)]
    jobs = [job(f"p{i}", gpus=1, queue="prod", created=i + 1) for i in range(5)]
    jobs += [job(f"r{i}", gpus=1, queue="research", created=i + 1) for i in range(5)]
    final, _ = settle(TWO_NODES, queues, jobs)
    assert gpus_by_queue(final) == {"prod": 5, "research": 3}


def test_two_queues_never_preempt_each_other_back_and_forth() -> None:
    # Both queues want everything; shares are 4/4. Whatever the start, it settles and stays.
    queues = [queue("vision", 4), queue("nlp", 4)]
    jobs = [running(f"v{i}", "vision", "ab"[i // 4], i % 4) for i in range(8)]
    jobs += [job(f"n{i}", gpus=1, queue="nlp", created=20 + i) for i in range(8)]
    jobs += [job(f"w{i}", gpus=1, queue="vision", created=30 + i) for i in range(4)]
    final, _ = settle(TWO_NODES, queues, jobs, extra_rounds=5)
    assert gpus_by_queue(final) == {"vision": 4, "nlp": 4}


def test_unknown_queue_is_explained() -> None:
    result = run_cycle(Snapshot(tuple(TWO_NODES), (job("x", gpus=1, queue="ghost"),),
                                (queue("vision", 1),)), CycleConfig(), now=0.0)
    assert result.decisions == ()
    assert result.reasons["x"].items[0].message == "queue ghost does not exist"
