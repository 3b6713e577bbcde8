"""Issue 12 item 8: `gpusched up` stopped with SIGTERM stops its jobs, unless --keep-jobs."""

from __future__ import annotations

import signal

from tests.faults.cluster import Cluster, eventually, wait_for
from tests.faults.marks import job_command

GPUS = "1x2xA100-80GB"


def _up(cluster: Cluster, *args: str) -> str:
    cluster.start_up("--simulate-gpus", GPUS, *args)
    node: str = wait_for(lambda: cluster.api().get("/v1/nodes").json()[0]["name"], seconds=60,
                         what="the embedded agent's node")
    cluster.wait_ready(node)
    return node


def test_a_stopped_up_stops_its_jobs_before_it_exits(cluster: Cluster) -> None:
    _up(cluster)
    cluster.queue()
    plain = cluster.submit(job_command(cluster.marks, seconds=300), gpus=0.5)
    training = cluster.submit(job_command(cluster.marks, seconds=300, stop_seconds=1), gpus=1)
    cluster.wait_started([plain, training])
    assert cluster.server is not None
    cluster.server.signal(signal.SIGTERM)
    code = cluster.server.wait(cluster.timings["grace_seconds"] + 30)
    assert code is not None, "gpusched up did not exit on SIGTERM"
    # Stopped before it exited: a moment for the watcher's next look, no more.
    gone = eventually(lambda: not cluster.alive(plain) and not cluster.alive(training), seconds=2)
    exits = {r.job: r.exit_code for r in cluster.runs()}
    assert gone, f"job processes outlived `gpusched up`: {[m.job for m in cluster.watcher.alive()]}"
    assert exits[training] == 143, "the training job got SIGTERM and time to checkpoint"


def test_up_with_keep_jobs_leaves_them_to_be_adopted(cluster: Cluster) -> None:
    _up(cluster, "--keep-jobs")
    cluster.queue()
    job = cluster.submit(job_command(cluster.marks, seconds=300, stop_seconds=0), gpus=1)
    cluster.wait_started([job])
    assert cluster.server is not None
    cluster.server.signal(signal.SIGTERM)
    assert cluster.server.wait(30) is not None, "gpusched up did not exit on SIGTERM"
    # Nothing to await here: the job must still be there once any grace would have run out.
    assert not eventually(lambda: not cluster.alive(job),
                          seconds=cluster.timings["grace_seconds"] + 2), "--keep-jobs stopped it"
    # The next `gpusched up` adopts it: a cancel through it ends the very same process.
    _up(cluster, "--keep-jobs")
    assert cluster.api().delete(f"/v1/jobs/{job}").status_code == 200
    cluster.wait_status([job], "cancelled")
    wait_for(lambda: not cluster.alive(job), seconds=cluster.timings["grace_seconds"] + 20,
             what="the adopted job to be stopped")
    assert len(cluster.started(job)) == 1, "it ran once, adopted, not started again"


def test_a_killed_up_leaves_its_jobs_to_be_adopted(cluster: Cluster) -> None:
    _up(cluster)
    cluster.queue()
    job = cluster.submit(job_command(cluster.marks, seconds=300, stop_seconds=0), gpus=1)
    cluster.wait_started([job])
    cluster.kill_server()  # SIGKILL: nothing runs to stop the jobs, and nothing should
    assert cluster.alive(job), "the job died with `gpusched up`"
    _up(cluster)
    assert cluster.api().delete(f"/v1/jobs/{job}").status_code == 200
    wait_for(lambda: not cluster.alive(job), seconds=cluster.timings["grace_seconds"] + 20,
             what="the adopted job to be stopped")
    assert len(cluster.started(job)) == 1, "it ran once, adopted, not started again"
