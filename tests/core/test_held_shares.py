"""Held shares (stopping replicas): the core places nothing on them and says who it waits for."""

from __future__ import annotations

from dataclasses import replace

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.decisions import Evict
from scheduler.core.model import GpuGrant, HeldShare, JobStatus, ReplicaPlacement, Snapshot
from tests.core.scenario import job, node, placed


def _held(owner: str, gpu: int, milli: int, until: float) -> HeldShare:
    return HeldShare(owner, "n1", (GpuGrant(gpu, milli),), cpu_millis=1000, memory_mib=1024,
                     stopping_until=until)


def test_a_held_gpu_is_not_placed_on_and_the_wait_is_explained() -> None:
    snapshot = Snapshot((node("n1", gpus=1),), (job("new", gpus=1),),
                        held=(_held("old", 0, 1000, until=20.4),))
    result = run_cycle(snapshot, CycleConfig(), now=0.0)
    assert placed(result) == {}
    reason = result.reasons["new"]
    assert reason.summary == "waiting for old to stop (grace 21 s)"
    assert reason.items[0].code == "held" and reason.items[0].data["node"] == "n1"


def test_what_is_not_held_is_still_used() -> None:
    snapshot = Snapshot((node("n1", gpus=2),), (job("half", gpus=0.5), job("whole", gpus=1)),
                        held=(_held("old", 0, 600, until=5.0),))
    result = run_cycle(snapshot, CycleConfig(placement="binpack"), now=0.0)
    assert placed(result) == {"half": [("n1", ((1, 500),))]}
    # GPU 0 has 400 free, GPU 1 has 500: the whole GPU waits for `old`.
    assert result.reasons["whole"].summary == "waiting for old to stop (grace 5 s)"


def test_a_job_that_would_not_fit_anyway_is_not_told_to_wait() -> None:
    snapshot = Snapshot((node("n1", gpus=1),), (job("big", gpus=2),),
                        held=(_held("old", 0, 1000, until=5.0),))
    result = run_cycle(snapshot, CycleConfig(), now=0.0)
    assert all(item.code != "held" for item in result.reasons["big"].items)


def test_a_job_that_waits_for_a_stopping_replica_evicts_no_one() -> None:
    running = replace(job("low", gpus=1), status=JobStatus.RUNNING, started_at=-1000.0,
                      placements=(ReplicaPlacement(0, "n1", (GpuGrant(1, 1000),)),))
    snapshot = Snapshot((node("n1", gpus=2),), (running, job("high", gpus=1, priority=5)),
                        held=(_held("old", 0, 1000, until=3.0),))
    result = run_cycle(snapshot, CycleConfig(), now=0.0)
    assert not [d for d in result.decisions if isinstance(d, Evict)]
    assert result.reasons["high"].summary == "waiting for old to stop (grace 3 s)"
    # Were GPU 0 held by a job that stays, the same job would preempt `low`.
    pinned = replace(job("pinned", gpus=1), status=JobStatus.RUNNING, preemptible=False,
                     placements=(ReplicaPlacement(0, "n1", (GpuGrant(0, 1000),)),))
    snapshot = replace(snapshot, jobs=(*snapshot.jobs, pinned), held=())
    decisions = run_cycle(snapshot, CycleConfig(), now=0.0).decisions
    assert [d.job_id for d in decisions if isinstance(d, Evict)] == ["low"]
