"""Held shares (stopping replicas): the core places nothing on them and says who it waits for."""

from __future__ import annotations

from scheduler.core.config import CycleConfig
from scheduler.core.cycle import run_cycle
from scheduler.core.model import GpuGrant, HeldShare, Snapshot
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
