"""Issue 12 items 6 and 7: the last admin token stays, and a join takes no live node's name."""

from __future__ import annotations

from typing import Any

import httpx

from tests.faults.checker import assert_clean, lost, violations
from tests.faults.cluster import FINAL, Cluster, eventually, wait_for
from tests.faults.marks import job_command


def _up(cluster: Cluster) -> str:
    cluster.start_up("--simulate-gpus", "1x2xA100-80GB")
    cluster.queue()
    node: str = wait_for(lambda: cluster.api().get("/v1/nodes").json()[0]["name"], seconds=60,
                         what="the embedded agent's node")
    cluster.wait_ready(node)
    return node


def _admins(cluster: Cluster) -> list[dict[str, Any]]:
    return [t for t in cluster.api().get("/v1/tokens").json() if t["kind"] == "admin"]


def test_the_last_admin_token_cannot_be_revoked(cluster: Cluster) -> None:
    _up(cluster)
    [bootstrap] = _admins(cluster)
    reply = cluster.api().delete(f"/v1/tokens/{bootstrap['id']}")
    assert reply.status_code == 409, f"revoking the last admin token answered {reply.status_code}"
    assert [t["id"] for t in _admins(cluster)] == [bootstrap["id"]]


def test_revoking_the_bootstrap_token_leaves_up_s_agent_at_work(cluster: Cluster) -> None:
    node = _up(cluster)
    [bootstrap] = _admins(cluster)
    running = cluster.submit(job_command(cluster.marks, seconds=3), gpus=1)
    cluster.wait_started([running])
    reply = cluster.api().post("/v1/tokens", json={"kind": "admin", "name": "second"})
    assert reply.status_code == 201, reply.text
    second = httpx.Client(base_url=cluster.url, timeout=15,
                          headers={"Authorization": f"Bearer {reply.json()['token']}"})
    cluster._client = second  # the bootstrap token is about to go
    assert second.delete(f"/v1/tokens/{bootstrap['id']}").status_code == 204
    # The embedded agent has a node token of its own: its node stays ready, its jobs run on.
    after = cluster.submit(job_command(cluster.marks, seconds=0.5), gpus=1)
    statuses = cluster.wait_final([running, after], seconds=60)
    assert cluster.node_ready(node) is True
    cluster.wait_all_gone()
    assert_clean(cluster.runs(), statuses)


def _node_json(name: str) -> dict[str, Any]:
    gpus = [{"index": i, "uuid": f"GPU-rogue-{name}-{i}", "model": "A100-80GB",
             "memory_mib": 81920} for i in range(8)]
    return {"name": name, "cpu_millis": 64000, "memory_mib": 512000, "gpus": gpus}


def _join(cluster: Cluster, token: str, name: str, **extra: Any) -> httpx.Response:
    body = {"join_token": token, "node": _node_json(name), **extra}
    return httpx.post(f"{cluster.url}/v1/agents/join", json=body, timeout=15)


def test_a_join_cannot_take_a_live_node_and_join_tokens_are_single_use(cluster: Cluster) -> None:
    cluster.start_one_node("a")
    secret = cluster.submit(job_command(cluster.marks, seconds=300), gpus=1, env={"SECRET": "s3"})
    cluster.wait_started([secret])
    problems = []
    rogue = _join(cluster, cluster.join_token(), "a-sim-0")
    if rogue.status_code != 409:
        problems.append(f"a join for the live node a-sim-0 answered {rogue.status_code}")
    if rogue.status_code == 201:
        beat = httpx.post(f"{cluster.url}/v1/agents/a-sim-0/heartbeat",
                          json={"node": _node_json("a-sim-0")}, timeout=15,
                          headers={"Authorization": f"Bearer {rogue.json()['token']}"})
        if "s3" in beat.text:
            problems.append("the newcomer was handed a-sim-0's job with its env")
    once = cluster.join_token()
    if _join(cluster, once, "c-sim-0").status_code != 201:
        problems.append("a fresh join token did not join a new node")
    if (again := _join(cluster, once, "d-sim-0").status_code) == 201:
        problems.append(f"a used join token joined again ({again})")
    made = cluster.api().post("/v1/agents/join-tokens", json={"uses": 2})
    if made.status_code != 201:
        problems.append(f"a join token for 2 uses could not be made: {made.status_code} {made.text}")
    else:
        twice = made.json()["token"]
        answers = [_join(cluster, twice, n).status_code for n in ("e-sim-0", "f-sim-0", "g-sim-0")]
        if answers[:2] != [201, 201] or answers[2] == 201:
            problems.append(f"a join token for 2 uses answered {answers}")
    # The live agent keeps its node: its job still runs, and the next one runs there too.
    if not cluster.alive(secret):
        problems.append("the live node's job died")
    cluster.api().delete(f"/v1/jobs/{secret}")
    for name in ("c-sim-0", "d-sim-0", "e-sim-0", "f-sim-0", "g-sim-0"):
        cluster.api().post(f"/v1/nodes/{name}/cordon")  # no agent behind them: run nothing there
    after = cluster.submit(job_command(cluster.marks, seconds=0.5), gpus=8)
    if not eventually(lambda: cluster.job(after)["status"] in FINAL, seconds=60):
        problems.append(f"the next job is still {cluster.job(after)['status']} after 60 s: "
                        "a-sim-0's own agent lost its node")
    eventually(lambda: not cluster.watcher.alive(), seconds=30)
    runs = cluster.runs()
    if not any(r.job == after and "rogue" not in ",".join(r.gpus) for r in runs):
        problems.append("the next job did not run on a-sim-0's real GPUs")
    problems += violations(runs) + lost(runs, cluster.statuses([after]))
    assert not problems, "\n".join(problems)


def test_a_lost_node_is_rejoined_only_with_replace_allowed(cluster: Cluster) -> None:
    cluster.start_scheduler()
    cluster.start_agent("a")
    cluster.wait_ready("a-sim-0")
    cluster.kill_agent("a")
    cluster.wait_ready("a-sim-0", ready=False, seconds=cluster.timings["node_timeout_seconds"] + 60)
    plain = cluster.join_token()
    allowing = cluster.join_token(allow_replace=True)
    answers = {
        "plain token, no replace": _join(cluster, plain, "a-sim-0").status_code,
        "plain token, replace": _join(cluster, cluster.join_token(), "a-sim-0",
                                      replace=True).status_code,
        "allowing token, no replace": _join(cluster, allowing, "a-sim-0").status_code,
    }
    answers["allowing token, replace"] = _join(cluster, cluster.join_token(allow_replace=True),
                                               "a-sim-0", replace=True).status_code
    refused = {k: v for k, v in answers.items() if k != "allowing token, replace"}
    assert all(400 <= code < 500 for code in refused.values()), answers
    assert answers["allowing token, replace"] == 201, answers
