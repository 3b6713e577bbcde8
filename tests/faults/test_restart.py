"""Issue 12 item 5: a restart after an outage longer than node_timeout re-runs nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.faults.checker import assert_clean
from tests.faults.cluster import GPUS, Cluster, wait_for
from tests.faults.marks import job_command, read_ends


def _outage(cluster: Cluster, *, kill: Callable[[], None], restart: Callable[[], object],
            node: str) -> None:
    """Jobs that end before the kill and during the outage; restart; nothing runs again."""
    cluster.queue()
    before = [cluster.submit(job_command(cluster.marks, seconds=0.5), gpus=1) for _ in range(3)]
    cluster.wait_final(before)
    # These end 2 s into the outage, long before the agent fences itself (fence_seconds).
    during = [cluster.submit(job_command(cluster.marks, seconds=2), gpus=0.5) for _ in range(3)]
    cluster.wait_started(during)
    kill()
    killed_at = time.time()
    wait_for(lambda: sum(name.split(".")[0] in during for name in read_ends(cluster.marks)) == 3,
             seconds=60, what="the jobs to end during the outage")
    # The outage must outlast node_timeout: there is nothing to wait for but time itself.
    time.sleep(max(0.0, killed_at + cluster.timings["node_timeout_seconds"] + 2 - time.time()))
    restart()
    cluster.wait_ready(node, seconds=90)
    # A job submitted after the restart that has run shows the restarted loop at work.
    sentinel = cluster.submit(job_command(cluster.marks, seconds=0.5), gpus=1)
    statuses = cluster.wait_final([*before, *during, sentinel], seconds=120)
    cluster.wait_all_gone()
    assert_clean(cluster.runs(), statuses)


def test_a_scheduler_restarted_after_a_long_outage_reruns_no_finished_job(cluster: Cluster) -> None:
    cluster.start_scheduler()
    cluster.start_agent("a")
    cluster.wait_ready("a-sim-0")
    _outage(cluster, kill=cluster.kill_server, restart=cluster.start_scheduler, node="a-sim-0")


def test_gpusched_up_restarted_after_a_long_outage_reruns_no_finished_job(cluster: Cluster) -> None:
    # `gpusched up` dies whole: the embedded agent with it; its jobs live on and end meanwhile.
    cluster.start_up("--simulate-gpus", GPUS)
    node = wait_for(lambda: cluster.api().get("/v1/nodes").json()[0]["name"], seconds=60,
                    what="the embedded agent's node")
    _outage(cluster, kill=cluster.kill_server,
            restart=lambda: cluster.start_up("--simulate-gpus", GPUS), node=node)
