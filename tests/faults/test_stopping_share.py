"""Issue 12 item 4: a stopping job keeps its GPUs until its process is gone."""

from __future__ import annotations

from tests.faults.checker import assert_clean
from tests.faults.cluster import Cluster, wait_for
from tests.faults.marks import job_command


def test_a_cancelled_job_that_checkpoints_keeps_its_gpus_until_it_is_gone(cluster: Cluster) -> None:
    cluster.start_one_node("a")
    # A training job on the whole node that takes 2 s (within the 3 s grace) to checkpoint.
    training = cluster.submit(job_command(cluster.marks, seconds=300, stop_seconds=2), gpus=8)
    cluster.wait_started([training])
    successor = cluster.submit(job_command(cluster.marks, seconds=1), gpus=8)
    assert cluster.api().delete(f"/v1/jobs/{training}").status_code == 200

    def explained() -> str | None:
        if cluster.started(successor):
            return "started"
        summary = str(cluster.api().get(f"/v1/jobs/{successor}/explain").json())
        return summary if f"waiting for {training} to stop" in summary else None

    said = wait_for(explained, seconds=30, what="the successor to wait for the stopping job")
    cluster.wait_final([successor], seconds=90)
    cluster.wait_status([training], "cancelled")
    cluster.wait_all_gone()
    assert_clean(cluster.runs(), cluster.statuses([successor]))
    assert said != "started", "the successor started while the training job still checkpointed"
