"""Reclaim rules (who may take from whom, victims first) and the fair-share wait reasons."""

from __future__ import annotations

from scheduler.core.fairshare import (
    QUEUE_AT_FAIR_SHARE,
    QUEUE_OVER_LIMIT,
    format_amount,
    protected_by_min_runtime,
    queue_wait_reason,
    reclaim_allowed,
    seconds_lost,
    victim_order_key,
)
from scheduler.core.model import Job, JobStatus, Queue, ReplicaRequest, Resources


def gpus(milli: int) -> Resources:
    return Resources(gpu_milli=milli)


def test_reclaim_needs_the_reclaimer_to_stay_within_its_share() -> None:
    # A holds 2 of its 4; a 2-GPU job brings it to 4 ≤ 4 → allowed; a 3-GPU job to 5 > 4 → not
    victim = {"victim_allocated": gpus(6000), "victim_share": gpus(4000)}
    assert reclaim_allowed(
        reclaimer_allocated=gpus(2000), reclaimer_share=gpus(4000), request=gpus(2000), **victim
    )
    assert not reclaim_allowed(
        reclaimer_allocated=gpus(2000), reclaimer_share=gpus(4000), request=gpus(3000), **victim
    )


def test_reclaim_needs_the_victim_above_its_share() -> None:
    # the victim holds exactly its 4 → it keeps them
    assert not reclaim_allowed(
        reclaimer_allocated=gpus(0),
        reclaimer_share=gpus(4000),
        request=gpus(1000),
        victim_allocated=gpus(4000),
        victim_share=gpus(4000),
    )


def test_two_queues_cannot_reclaim_back_and_forth() -> None:
    # shares 4 and 4. A takes 1 GPU from B (B at 5 → 4, A at 3 → 4): then B, at 4 of 4, may
    # not take it back, and neither may A go further.
    share = gpus(4000)
    assert reclaim_allowed(
        reclaimer_allocated=gpus(3000),
        reclaimer_share=share,
        request=gpus(1000),
        victim_allocated=gpus(5000),
        victim_share=share,
    )
    assert not reclaim_allowed(
        reclaimer_allocated=gpus(4000),
        reclaimer_share=share,
        request=gpus(1000),
        victim_allocated=gpus(4000),
        victim_share=share,
    )


def running(
    job_id: str,
    *,
    priority: int = 0,
    started: float,
    checkpoint: float | None = None,
    milli: int = 1000,
    replicas: int = 1,
) -> Job:
    return Job(
        id=job_id,
        queue="q",
        request=ReplicaRequest(gpu_milli=milli),
        replicas=replicas,
        priority=priority,
        status=JobStatus.RUNNING,
        started_at=started,
        last_checkpoint_at=checkpoint,
    )


def test_victims_lose_least_work_first() -> None:
    now = 1000.0
    jobs = [
        running("important", priority=5, started=990),  # fresh but high priority: last
        running("long", started=0),  # 1000 s lost
        running("checkpointed", started=0, checkpoint=950),  # 50 s lost
        running("gang", started=900, milli=1000, replicas=8),  # 100 s * 8 GPUs = 800 GPU-s
        running("short", started=800),  # 200 s lost
    ]
    order = sorted(jobs, key=lambda j: victim_order_key(j, now=now))
    assert [j.id for j in order] == ["checkpointed", "short", "gang", "long", "important"]
    assert seconds_lost(jobs[2], now=now) == 50


def test_min_runtime_protects_fresh_jobs() -> None:
    job = running("j", started=100)
    assert protected_by_min_runtime(job, now=130, min_runtime_seconds=60)
    assert not protected_by_min_runtime(job, now=160, min_runtime_seconds=60)


def test_format_amount() -> None:
    assert format_amount("gpu_milli", 12_000) == "12.0 GPUs"
    assert format_amount("gpu_milli", 4250) == "4.25 GPUs"
    assert format_amount("cpu_millis", 2500) == "2.5 CPUs"
    assert format_amount("memory_mib", 512) == "512 MiB"


def test_reason_when_the_queue_is_at_its_fair_share() -> None:
    reason = queue_wait_reason(
        queue=Queue("vision"),
        allocated=gpus(12_000),
        fair_share=gpus(12_000),
        request=gpus(1000),
        jobs_ahead=3,
    )
    assert reason is not None and reason.code == QUEUE_AT_FAIR_SHARE
    assert reason.message == (
        "queue vision is at its fair share (12.0 of 12.0 GPUs); 3 jobs ahead of this one"
    )
    assert reason.data["fair_share"] == 12_000


def test_reason_when_the_queue_is_at_its_limit_comes_first() -> None:
    reason = queue_wait_reason(
        queue=Queue("nlp", limit=gpus(16_000)),
        allocated=gpus(16_000),
        fair_share=gpus(10_000),
        request=gpus(500),
        jobs_ahead=0,
    )
    assert reason is not None and reason.code == QUEUE_OVER_LIMIT
    assert reason.message == "queue nlp over its limit (16.0 of 16.0 GPUs)"


def test_no_reason_when_the_job_fits_the_share() -> None:
    assert (
        queue_wait_reason(
            queue=Queue("a"),
            allocated=gpus(1000),
            fair_share=gpus(4000),
            request=gpus(2000),
            jobs_ahead=0,
        )
        is None
    )
