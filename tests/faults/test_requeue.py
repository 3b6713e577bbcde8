"""Issue 12 item 2: a job requeued from a lost node is not failed by its previous attempt."""

from __future__ import annotations

from tests.faults.checker import assert_clean
from tests.faults.cluster import Cluster
from tests.faults.marks import job_command


def test_jobs_requeued_from_a_lost_node_run_again_when_it_returns(cluster: Cluster) -> None:
    node = cluster.start_one_node("a")
    # The first attempt runs until it is stopped; the second is short. Both stop at once.
    command = job_command(cluster.marks, seconds=300, rerun_seconds=1, stop_seconds=0)
    ids = [cluster.submit(command, gpus=1) for _ in range(3)]
    cluster.wait_started(ids)
    cluster.kill_agent("a")  # its jobs live on in their own sessions
    assert all(cluster.alive(job_id) for job_id in ids)
    cluster.wait_ready(node, ready=False, seconds=cluster.timings["node_timeout_seconds"] + 60)
    cluster.wait_status(ids, "pending")  # requeued, and no node to run on
    # The agent comes back with the same home: it adopts the first attempts and must stop them
    # (they are no longer desired); the scheduler binds the second attempts to it.
    cluster.start_agent("a", join=False)
    cluster.wait_final(ids, seconds=120)
    cluster.wait_all_gone()
    runs = cluster.runs()
    assert_clean(runs, cluster.statuses(ids))
    attempts = {job_id: sorted(r.attempt for r in runs if r.job == job_id) for job_id in ids}
    assert attempts == {job_id: [1, 2] for job_id in ids}, "each job: its first attempt, then one more"
