"""Issue 12 item 3: a partitioned agent fences itself before its jobs run elsewhere."""

from __future__ import annotations

import time

from tests.faults.checker import assert_clean
from tests.faults.cluster import Cluster, eventually
from tests.faults.marks import job_command
from tests.faults.partition import Partition


def test_a_partitioned_node_stops_its_jobs_before_they_are_run_elsewhere(cluster: Cluster) -> None:
    cluster.start_scheduler()
    cluster.queue()
    partition = Partition(cluster.port)
    cluster.start_agent("a", server=partition.url)
    cluster.wait_ready("a-sim-0")
    # Eight training jobs fill node a; each takes 1 s to checkpoint when stopped.
    command = job_command(cluster.marks, seconds=300, rerun_seconds=1, stop_seconds=1)
    ids = [cluster.submit(command, gpus=1) for _ in range(8)]
    cluster.wait_started(ids)
    cluster.start_agent("b")
    cluster.wait_ready("b-sim-0")
    # Both ends keep running; only the heartbeats of a stop getting through.
    partition.cut()
    cut_at = time.time()
    timings = cluster.timings
    cluster.wait_ready("a-sim-0", ready=False, seconds=timings["node_timeout_seconds"] + 60)
    statuses = cluster.wait_final(ids, seconds=120)
    fenced = eventually(lambda: not any(cluster.alive(j) for j in ids),
                        seconds=timings["fence_seconds"] + timings["grace_seconds"] + 10)
    runs = cluster.runs()
    late = [r.label() for r in runs
            if r.attempt <= 1 and r.end > cut_at + timings["fence_seconds"] + timings["grace_seconds"]]
    assert_clean(runs, statuses)
    assert fenced and not late, f"ran on past the fence (cut at {cut_at:.2f}): {late}"
