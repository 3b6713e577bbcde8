"""Queue order for allocation, and fairness between users inside one queue."""

from __future__ import annotations

from scheduler.core.fairshare import (
    QueueTree,
    build_tree,
    order_pending_jobs,
    queue_order_key,
    queue_path,
    queue_path_order_key,
    subtree_allocated,
    user_shares,
)
from scheduler.core.model import Job, JobStatus, Queue, ReplicaRequest, Resources


def gpus(milli: int) -> Resources:
    return Resources(gpu_milli=milli)


def test_queues_furthest_below_their_share_come_first() -> None:
    share = gpus(4000)
    keys = {
        "quarter": queue_order_key(gpus(1000), share),  # 1/4 of its share
        "half": queue_order_key(gpus(2000), share),  # 1/2
        "empty": queue_order_key(gpus(0), share),  # 0
        "over": queue_order_key(gpus(6000), share),  # 3/2
        "no-share": queue_order_key(gpus(1000), gpus(0)),  # holds what it is not owed
    }
    assert sorted(keys, key=lambda n: (keys[n], n)) == [
        "empty",
        "quarter",
        "half",
        "over",
        "no-share",
    ]


def test_the_dominant_resource_decides() -> None:
    # a: GPUs 1/4 of share but CPUs 3/4 → 3/4; b: 1/2 of both → 1/2 → b first
    share = Resources(cpu_millis=4000, gpu_milli=4000)
    a = queue_order_key(Resources(cpu_millis=3000, gpu_milli=1000), share)
    b = queue_order_key(Resources(cpu_millis=2000, gpu_milli=2000), share)
    assert b < a


def job(
    job_id: str,
    user: str,
    *,
    milli: int = 1000,
    created: float = 0.0,
    priority: int = 0,
    status: JobStatus = JobStatus.PENDING,
) -> Job:
    return Job(
        id=job_id,
        queue="q",
        user=user,
        request=ReplicaRequest(gpu_milli=milli),
        created_at=created,
        priority=priority,
        status=status,
    )


def test_user_shares_split_equally_with_water_filling() -> None:
    # 6 GPUs among three users; carol needs only 1 → alice and bob 2.5 each
    shares = user_shares(gpus(6000), {"alice": gpus(9000), "bob": gpus(9000), "carol": gpus(1000)})
    assert shares == {"alice": gpus(2500), "bob": gpus(2500), "carol": gpus(1000)}


def test_a_user_with_many_jobs_does_not_starve_another() -> None:
    # share 4: alice wants 4, bob 2 → 2 each. Alice's jobs are all older, yet they alternate:
    # a0 (both 0) → b0 (0 < 1/2) → a1 (tie 1/2, older) → b1 (1/2 < 1) → a2, a3.
    jobs = [job(f"a{i}", "alice", created=i) for i in range(4)]
    jobs += [job(f"b{i}", "bob", created=10 + i) for i in range(2)]
    order = order_pending_jobs(jobs, queue_share=gpus(4000))
    assert [j.id for j in order] == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_running_jobs_count_against_their_user() -> None:
    # alice already runs 2 of her 2-GPU part, bob runs nothing → bob's jobs first
    jobs = [
        job("r", "alice", milli=2000, status=JobStatus.RUNNING),
        job("a", "alice", created=1),
        job("b1", "bob", created=5),
        job("b2", "bob", created=6),
    ]
    order = order_pending_jobs(jobs, queue_share=gpus(4000))
    assert [j.id for j in order] == ["b1", "b2", "a"]


def test_inside_one_user_priority_then_age() -> None:
    jobs = [
        job("old-low", "alice", created=1),
        job("new-high", "alice", created=9, priority=5),
        job("mid-low", "alice", created=5),
        job("done", "alice", status=JobStatus.SUCCEEDED),
    ]
    order = order_pending_jobs(jobs, queue_share=gpus(8000))
    assert [j.id for j in order] == ["new-high", "old-low", "mid-low"]


def test_equal_users_tie_break_on_priority_then_age() -> None:
    jobs = [job("a", "alice", created=1), job("b", "bob", created=2, priority=3)]
    assert [j.id for j in order_pending_jobs(jobs, queue_share=gpus(2000))] == ["b", "a"]


def _next_leaf(
    tree: QueueTree, held: dict[str, Resources], shares: dict[str, Resources], waiting: set[str]
) -> str | None:
    """The waiting leaf the allocate action serves first (the proportion plugin's sort key)."""
    everyone = subtree_allocated(tree, held)
    return min(
        sorted(waiting),
        key=lambda leaf: queue_path_order_key(
            queue_path(tree, leaf), allocated=everyone, fair_shares=shares
        ),
        default=None,
    )


def test_the_next_leaf_is_found_from_the_top_of_the_tree() -> None:
    # research (share 6) holds 6 through vision 5 + nlp 1; prod (share 2) holds 1 → prod first
    # although nlp, at 1 of its 3, is the leaf furthest below its own share.
    tree = build_tree(
        [
            Queue("research"),
            Queue("vision", parent="research"),
            Queue("nlp", parent="research"),
            Queue("prod"),
        ]
    )
    shares = {"research": gpus(6000), "vision": gpus(3000), "nlp": gpus(3000), "prod": gpus(2000)}
    held = {"vision": gpus(5000), "nlp": gpus(1000), "prod": gpus(1000)}
    everyone = {"vision", "nlp", "prod"}
    assert _next_leaf(tree, held, shares, everyone) == "prod"
    # without prod waiting, research is next, and inside it nlp (1/3) before vision (5/3)
    assert _next_leaf(tree, held, shares, {"vision", "nlp"}) == "nlp"
    assert _next_leaf(tree, held, shares, set()) is None
    assert subtree_allocated(tree, held)["research"] == gpus(6000)
