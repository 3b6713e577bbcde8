"""Issue 12 item 1: input no process can be started with never wedges a node."""

from __future__ import annotations

from typing import Any

from tests.faults.checker import lost, violations
from tests.faults.cluster import Cluster, eventually, wait_for
from tests.faults.marks import job_command

NODE = "a-sim-0"
UNRUNNABLE: list[dict[str, Any]] = [
    {"env": {"A=B": "v"}, "command": ["true"]},  # no environment can hold that name
    {"command": ["sh", "-c", "echo \x00"]},  # no argv can hold a NUL
    {"env": {"A": "v\x00"}, "command": ["true"]},
]


def test_unrunnable_jobs_are_refused_and_the_node_keeps_stopping_what_it_is_told(
    cluster: Cluster,
) -> None:
    cluster.start_one_node("a")
    answers = []
    accepted = []
    for body in UNRUNNABLE:
        reply = cluster.api().post("/v1/jobs", json={"queue": "faults", "gpus": 1, **body})
        answers.append(reply.status_code)
        if reply.status_code == 201:
            accepted.append(reply.json()["id"])
    # Should one get through anyway, it is cancelled: that is what wedged the node.
    for job_id in accepted:
        def tried(job_id: str = job_id) -> bool:
            """The agent has tried it: it reported it (started_at), or it failed."""
            job = cluster.job(job_id)
            return job["status"] == "failed" or job["started_at"] is not None

        wait_for(tried, seconds=30, what=f"the agent to try {job_id}", diagnose=cluster.diagnose)
        cluster.api().delete(f"/v1/jobs/{job_id}")
    # The node must still stop what it is told: a cancelled job's process ends, and a job that
    # needs the whole node runs only after that.
    victim = cluster.submit(job_command(cluster.marks, seconds=300), gpus=4)
    cluster.wait_started([victim])
    assert cluster.api().delete(f"/v1/jobs/{victim}").status_code == 200
    whole = cluster.submit(job_command(cluster.marks, seconds=1), gpus=8)
    grace = cluster.timings["grace_seconds"]
    stopped = eventually(lambda: not cluster.alive(victim), seconds=grace + 20)
    cluster.wait_final([whole], seconds=60)
    runs = cluster.runs()
    problems = violations(runs) + lost(runs, cluster.statuses([whole]))
    if not stopped:
        problems.append(f"the cancelled job {victim} still runs {grace + 20:g} s later")
    if answers != [422] * len(UNRUNNABLE):
        problems.insert(0, f"unrunnable jobs answered {answers}, not 422 each")
    assert not problems, "\n".join(problems)
