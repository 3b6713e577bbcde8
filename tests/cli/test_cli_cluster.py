"""`gpusched queues ...`, `gpusched nodes ...` and `gpusched top` against the real app."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest

QUEUES = [
    {"name": "research", "parent": None, "deserved_gpus": 8, "fair_share_gpus": 10,
     "allocated_gpus": 9.5, "limit_gpus": None, "over_quota_weight": 1.0, "priority": 0,
     "pending_jobs": 5},
    {"name": "vision", "parent": "research", "deserved_gpus": 4, "fair_share_gpus": 4,
     "allocated_gpus": 6, "limit_gpus": 8, "over_quota_weight": 2.0, "priority": 1,
     "pending_jobs": 2},
    {"name": "nlp", "parent": "research", "deserved_gpus": 4, "fair_share_gpus": 6,
     "allocated_gpus": 3.5, "limit_gpus": None, "over_quota_weight": 1.0, "priority": 0,
     "pending_jobs": 3},
]  # fmt: skip
# QUEUES and NODES feed the pure frame layout test only (no server involved).
NODES = [
    {
        "name": "node-a",
        "ready": True,
        "cordoned": True,
        "enforcement": "watchdog",
        "gpus": [
            {
                "index": 0,
                "uuid": "GPU-0",
                "model": "A100-80GB",
                "memory_mib": 81920,
                "allocated_fraction": 0.5,
                "utilization": 37.0,
                "memory_used_mib": 20480,
                "healthy": True,
            },
            {
                "index": 1,
                "uuid": "GPU-1",
                "model": "A100-80GB",
                "memory_mib": 81920,
                "allocated_fraction": 1.0,
                "utilization": None,
                "memory_used_mib": None,
                "healthy": False,
                "health_reason": "XID 79",
            },
        ],
    },
    {"name": "cpu-only", "ready": False, "cordoned": False, "enforcement": "none", "gpus": []},
]


def squash(text: str) -> str:
    return " ".join(text.split())


def line_with(output: str, word: str) -> str:
    return squash(next(line for line in output.splitlines() if word in line.split()))


@pytest.fixture
def busy(api):
    """3 GPUs on two nodes; research holds vision (limit 2, weight 2, priority 1) and nlp.

    vision runs half a GPU; nlp runs one GPU and has a gang of 3 waiting (2 GPUs are left, on
    two nodes, for replicas of 1: "gang needs 3 replicas").
    """
    api.join("node-a", gpus=2)
    api.join("node-b", gpus=1)
    api.queue("research", deserved_gpus=2)
    api.queue("vision", parent="research", deserved_gpus=1, limit_gpus=2, over_quota_weight=2,
              priority=1)  # fmt: skip
    api.queue("nlp", parent="research", deserved_gpus=1)
    jobs = [api.submit("vision", 0.5), api.submit("nlp", 1)]
    api.cycle()
    jobs.append(api.submit("nlp", 1, replicas=3))
    api.cycle()
    return jobs


def test_queues_lists_the_tree_with_share_and_allocation(api, cli, busy):
    result = cli("queues")

    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    assert names == ["research", "nlp", "vision"]  # parent first, children sorted under it
    indented = next(line for line in result.stdout.splitlines() if "vision" in line)
    assert indented.startswith("  vision")
    # vision: deserved 1, fair share 0.5 (its demand), allocated 0.5 → 100%; limit 2, weight 2,
    # priority 1, none pending, one running
    assert line_with(result.stdout, "vision").split() == [
        "vision", "1", "0.5", "0.5", "██████████", "100%", "2", "2", "1", "0", "1",
    ]  # fmt: skip
    shown = {q["name"]: q for q in api.ok("GET", "/v1/queues")}
    nlp = line_with(result.stdout, "nlp").split()
    assert nlp[1:4] == ["1", f"{shown['nlp']['fair_share_gpus']:g}", "1"]
    assert line_with(result.stdout, "research").split()[-2:] == ["1", "2"]  # pending, running


def test_queues_json(api, cli, busy):
    result = cli("queues", "--json")

    assert json.loads(result.stdout) == api.ok("GET", "/v1/queues")


def test_queues_create_sends_only_what_was_given(api, cli):
    api.queue("research", deserved_gpus=8)

    result = cli(
        "queues", "create", "vision", "--deserved-gpus", "4", "--parent", "research",
        "--limit-gpus", "8", "--weight", "2.5", "--priority", "1",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("POST", "/v1/queues")
    assert seen.body == {
        "name": "vision",
        "parent": "research",
        "deserved_gpus": 4,
        "limit_gpus": 8,
        "over_quota_weight": 2.5,
        "priority": 1,
    }
    assert "queue vision created" in result.stdout
    made = api.ok("GET", "/v1/queues/vision")
    assert (made["parent"], made["limit_gpus"], made["over_quota_weight"]) == ("research", 8, 2.5)


def test_queues_create_needs_deserved_gpus(api, cli):
    result = cli("queues", "create", "vision")

    assert result.exit_code == 2
    assert "--deserved-gpus" in result.output
    assert api.requests == []


def test_queues_set_patches_only_the_changed_fields(api, cli):
    api.queue("vision", deserved_gpus=4, limit_gpus=8, priority=3)

    result = cli("queues", "set", "vision", "--deserved-gpus", "2.5", "--no-limit")

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("PATCH", "/v1/queues/vision")
    assert seen.body == {"deserved_gpus": 2.5, "limit_gpus": None}
    now = api.ok("GET", "/v1/queues/vision")
    assert (now["deserved_gpus"], now["limit_gpus"], now["priority"]) == (2.5, None, 3)


def test_queues_set_without_changes_is_refused(api, cli):
    result = cli("queues", "set", "vision")

    assert result.exit_code == 2
    assert "nothing to change" in result.output
    assert api.requests == []


def test_queues_delete(api, cli):
    api.queue("old")

    result = cli("queues", "delete", "old")

    assert result.exit_code == 0, result.output
    assert result.stdout == "queue old deleted\n"
    assert api.http.get("/v1/queues/old").status_code == 404


def test_group_options_reach_the_subcommand(api, cli, dead_url):
    api.queue("old")
    ops = api.token("admin")

    result = cli("queues", "--url", api.url, "--token", ops, "delete", "old", GPUSCHED_URL=dead_url)

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("DELETE", "/v1/queues/old")
    assert seen.headers["authorization"] == f"Bearer {ops}"


def test_nodes_lists_each_gpu_with_allocation_use_memory_and_health(api, cli):
    api.join("cpu-only", gpus=0)
    api.app.state.loop.run_once()  # the loop leads from now: silence counts from here
    api.app.state.loop.run_once(now=time.time() + 3600)  # both nodes fall silent...
    api.join("node-a", gpus=2)  # ...and node-a comes back
    api.queue("vision", deserved_gpus=2)
    api.submit("vision", 0.5)
    api.cycle()
    sick = {"index": 1, "uuid": "GPU-node-a-1", "healthy": False, "health_reason": "XID 79",
            "xid_errors": [79]}  # fmt: skip
    busy = {"index": 0, "uuid": "GPU-node-a-0", "utilization": 37.0, "memory_used_mib": 20480}
    api.heartbeat("node-a", telemetry=[busy, sick])
    api.ok("POST", "/v1/nodes/node-a/cordon")

    result = cli("nodes")

    assert result.exit_code == 0, result.output
    lines = [squash(line) for line in result.stdout.splitlines()]
    first = next(line for line in lines if line.startswith("node-a"))
    assert first.startswith("node-a ready,cordoned watchdog 0 A100-80GB")
    assert "50%" in first and "37%" in first and "20G/80G" in first and first.endswith("ok")
    second = next(line for line in lines if "XID 79" in line)
    assert second.startswith("1 A100-80GB") and "0%" in second and "-/80G" in second
    assert next(line for line in lines if line.startswith("cpu-only")).startswith(
        "cpu-only not-ready watchdog - (no GPUs)"
    )


def test_cordon_and_uncordon_post_to_the_node(api, cli):
    api.join("node-a")

    assert cli("nodes", "cordon", "node-a").stdout == "node node-a cordoned\n"
    assert api.ok("GET", "/v1/nodes/node-a")["cordoned"] is True
    assert cli("nodes", "uncordon", "node-a").stdout == "node node-a uncordoned\n"
    assert api.ok("GET", "/v1/nodes/node-a")["cordoned"] is False
    assert [(s.method, s.path) for s in api.requests] == [
        ("POST", "/v1/nodes/node-a/cordon"),
        ("POST", "/v1/nodes/node-a/uncordon"),
    ]


def test_join_token_prints_a_token_an_agent_can_join_with(api, cli):
    result = cli("nodes", "join-token")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert "expires" in result.stderr
    body = {"join_token": token, "node": {"name": "node-z", "cpu_millis": 1, "memory_mib": 1}}
    assert httpx.post(f"{api.url}/v1/agents/join", json=body).status_code == 201


def test_join_token_sends_uses_and_allow_replace(api, cli):
    result = cli("nodes", "join-token", "--uses", "3", "--allow-replace")

    assert result.exit_code == 0, result.output
    assert "3 joins" in result.stderr and "may replace a lost node" in result.stderr
    token = result.stdout.strip()
    codes = [
        httpx.post(f"{api.url}/v1/agents/join", json={
            "join_token": token, "node": {"name": name, "cpu_millis": 1, "memory_mib": 1},
        }).status_code
        for name in ("node-x", "node-y", "node-z", "node-w")
    ]
    assert codes == [201, 201, 201, 401]  # three uses, then spent


def test_top_once_renders_queues_gpus_and_jobs(api, cli, busy):
    api.ok("POST", "/v1/nodes/node-b/cordon")

    result = cli("top", "--once")

    assert result.exit_code == 0, result.output
    out = result.stdout
    # 0.5 + 1 of 3 GPUs allocated; 1 pending, in a leaf (nlp) and not counted again in research
    assert "GPUs 1.5/3 allocated" in out
    assert "50%" in out
    assert "nodes 1/2 schedulable" in squash(out)  # node-b cordoned
    assert "running 2" in out and "pending 1" in out
    for word in ("research", "vision", "A100-80GB", "gang needs 3 replicas", *(j["id"] for j in busy)):
        assert word in out, word
    statuses = sorted(s.query.get("status", "") for s in api.seen("GET", "/v1/jobs"))
    assert statuses == ["pending", "running"]


def test_top_once_with_the_server_down_exits_1(cli, dead_url):
    result = cli("top", "--once", GPUSCHED_URL=dead_url)

    assert result.exit_code == 1
    assert "cannot reach gpusched" in result.stderr


def test_join_token_ttl_goes_in_the_body(api, cli):
    before = time.time()

    result = cli("nodes", "join-token", "--ttl", "600")

    assert result.exit_code == 0, result.output
    assert api.seen("POST", "/v1/agents/join-tokens")[0].body == {"ttl_seconds": 600.0}
    (made,) = [t for t in api.ok("GET", "/v1/tokens") if t["kind"] == "join"]
    assert before + 600 <= made["expires_at"] <= time.time() + 600


def test_top_once_json_is_one_object_with_every_section(api, cli, busy):
    result = cli("top", "--once", "-o", "json")

    assert result.exit_code == 0, result.output
    snapshot = json.loads(result.stdout)
    assert snapshot["queues"] == api.ok("GET", "/v1/queues")
    assert snapshot["nodes"] == api.ok("GET", "/v1/nodes")
    assert {j["id"] for j in snapshot["running"]} == {busy[0]["id"], busy[1]["id"]}
    assert [j["id"] for j in snapshot["pending"]] == [busy[2]["id"]]
    assert cli("top", "--json").exit_code == 2  # JSON of a live view makes no sense


def test_top_without_an_admin_token_still_shows_queues_and_jobs(api, cli, busy):
    user = api.token("user", queues=["research", "vision", "nlp"])

    result = cli("top", "--once", GPUSCHED_TOKEN=user)

    assert result.exit_code == 0, result.output
    assert "GPUs hidden: listing nodes needs an admin token" in result.stdout
    assert "research" in result.stdout


def test_top_live_redraws_keeps_going_through_a_server_error_and_stops_on_ctrl_c(
    api, cli, busy, monkeypatch
):
    from scheduler.cli import top

    sleeps = []
    queues = ("GET", "/v1/queues")

    def restarting() -> httpx.Response:
        del api.transport.interpose[queues]  # once: the server is back for the next frame
        return httpx.Response(503, json={"detail": "restarting"})

    def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 1:
            api.transport.interpose[queues] = restarting  # a proxy in front of a restart
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(top, "pause", fake_sleep)

    result = cli("top", "--interval", "0.5")

    assert result.exit_code == 0, result.output
    assert sleeps == [0.5, 0.5, 0.5]
    assert len(api.seen("GET", "/v1/queues")) == 3  # first frame, the failed one, the recovery
    # Not a terminal: frames follow one another; the second shows the error over the last data.
    frames = result.stdout.split("gpusched top  ")[1:]
    assert len(frames) == 3
    assert "restarting" in frames[1] and "research" in frames[1]
    assert "restarting" not in frames[2]


def test_top_live_stops_when_the_token_is_revoked(api, cli, busy, monkeypatch):
    from scheduler.cli import top

    made = api.ok("POST", "/v1/tokens", json={"kind": "admin", "name": "ops"})
    monkeypatch.setattr(top, "pause", lambda seconds: api.ok("DELETE", f"/v1/tokens/{made['id']}"))

    result = cli("top", GPUSCHED_TOKEN=made["token"])

    assert result.exit_code == 1
    assert "the token was rejected (missing, invalid, expired or revoked" in result.stderr


def test_top_on_a_terminal_redraws_in_place_and_gives_the_screen_back(api, cli, busy, monkeypatch):
    from scheduler.cli import top

    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(top, "pause", fake_sleep)

    result = cli("top", TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", FORCE_COLOR="1")

    assert result.exit_code == 0, result.output
    assert "\x1b[?1049h" in result.stdout  # alternate screen entered...
    assert result.stdout.rstrip().endswith("\x1b[?1049l")  # ...and left on Ctrl-C
    assert "research" in result.stdout


def test_top_fits_the_job_list_to_the_window_height():
    from rich.console import Console

    from scheduler.cli.top import Snapshot, frame

    jobs = [{"id": f"j{i}", "status": "pending", "queue": "nlp", "gpus": 1} for i in range(50)]
    snapshot = Snapshot(queues=QUEUES, nodes=NODES, pending=jobs, taken_at=0.0)
    out = Console(width=160, record=True, file=io.StringIO())

    out.print(frame(snapshot, url="u", max_jobs=50, error=None, height=30))
    text = out.export_text()

    # 30 rows: 6 fixed + 3 queues + 1 header + 3 GPU rows + 1 header = 14; 2 for jobs header/more
    assert len(text.splitlines()) == 30
    assert "... 36 more" in text
    assert "j13" in text and "j14" not in text.split()
