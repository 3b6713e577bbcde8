"""The chaos run: 300 short jobs while the scheduler and an agent are SIGKILLed, three times."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.faults.checker import assert_clean
from tests.faults.cluster import FINAL, Cluster, wait_for
from tests.faults.marks import job_command

SEED = 20261208
JOBS = 300
ROUNDS = 3
NODES = ("a", "b")
# Fractions and whole GPUs mixed; durations short so 300 jobs fit in a minute or two.
SHAPES = (0.25, 0.5, 0.5, 1, 1, 2)


def _submit_all(cluster: Cluster, rng: random.Random, ids: list[str]) -> None:
    for n in range(JOBS):
        # One in ten lasts long enough to be alive across an agent's restart (and be adopted).
        long = rng.random() < 0.1
        seconds = round(rng.uniform(3, 6) if long else rng.uniform(0.2, 1.5), 2)
        command = job_command(cluster.marks, seconds=seconds)
        ids.append(cluster.submit(command, gpus=rng.choice(SHAPES), key=f"chaos-{n}"))


def _heard_from_all(cluster: Cluster, since: float) -> None:
    nodes = [f"{name}-sim-0" for name in NODES]
    wait_for(lambda: all(cluster.heard_from(n, since=since) for n in nodes), seconds=90,
             what=f"heartbeats from {nodes}", diagnose=cluster.diagnose)


@pytest.mark.chaos
@pytest.mark.timeout(600)
def test_chaos_kills_lose_nothing_and_run_nothing_twice(any_db_cluster: Cluster) -> None:
    cluster = any_db_cluster
    rng = random.Random(SEED)
    cluster.start_scheduler()
    cluster.queue(gpus=16)
    for name in NODES:
        cluster.start_agent(name)
    for name in NODES:
        cluster.wait_ready(f"{name}-sim-0")
    ids: list[str] = []
    submitter = threading.Thread(target=_submit_all, args=(cluster, random.Random(SEED + 1), ids),
                                 daemon=True)
    submitter.start()
    # Each outage is short: the scheduler is back before any agent fences itself, an agent is
    # back well within node_timeout. No job is lost, so every one must succeed, exactly once.
    victims = [*NODES, rng.choice(NODES)][:ROUNDS]
    rng.shuffle(victims)
    for victim in victims:
        time.sleep(rng.uniform(1, 5))
        cluster.kill_server()
        time.sleep(rng.uniform(0.2, 2))
        cluster.start_scheduler()
        _heard_from_all(cluster, since=time.time())
        time.sleep(rng.uniform(0.5, 4))
        cluster.kill_agent(victim)
        time.sleep(rng.uniform(0.2, 3))
        cluster.start_agent(victim, join=False)
        _heard_from_all(cluster, since=time.time())
    submitter.join(timeout=120)
    assert len(ids) == JOBS, f"only {len(ids)} of {JOBS} submits went through"

    def all_final() -> dict[str, str] | None:
        statuses = cluster.all_statuses()
        return statuses if all(statuses.get(j) in FINAL for j in ids) else None

    statuses = wait_for(all_final, seconds=300, what="every job to end", diagnose=cluster.diagnose)
    cluster.wait_all_gone()
    assert_clean(cluster.runs(), {j: statuses[j] for j in ids})
