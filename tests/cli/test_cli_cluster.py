"""`gpusched queues ...`, `gpusched nodes ...` and `gpusched top --once` against canned answers."""

from __future__ import annotations

import io
import json

QUEUES = [
    {
        "name": "research",
        "parent": None,
        "deserved_gpus": 8,
        "fair_share_gpus": 10,
        "allocated_gpus": 9.5,
        "limit_gpus": None,
        "over_quota_weight": 1.0,
        "priority": 0,
        "pending_jobs": 5,
    },
    {
        "name": "vision",
        "parent": "research",
        "deserved_gpus": 4,
        "fair_share_gpus": 4,
        "allocated_gpus": 6,
        "limit_gpus": 8,
        "over_quota_weight": 2.0,
        "priority": 1,
        "pending_jobs": 2,
    },
    {
        "name": "nlp",
        "parent": "research",
        "deserved_gpus": 4,
        "fair_share_gpus": 6,
        "allocated_gpus": 3.5,
        "limit_gpus": None,
        "over_quota_weight": 1.0,
        "priority": 0,
        "pending_jobs": 3,
    },
]
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


def test_queues_lists_the_tree_with_share_and_allocation(api, cli):
    api.json("GET", "/v1/queues", QUEUES)

    result = cli("queues")

    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    assert names == ["research", "nlp", "vision"]  # parent first, children sorted under it
    indented = next(line for line in result.stdout.splitlines() if "vision" in line)
    assert indented.startswith("  vision")
    # vision: deserved 4, fair 4, allocated 6 → 150% of its fair share; limit 8, weight 2, prio 1
    assert line_with(result.stdout, "vision").split() == [
        "vision", "4", "4", "6", "██████████", "150%", "8", "2", "1", "2",
    ]  # fmt: skip
    assert line_with(result.stdout, "nlp").split()[1:4] == ["4", "6", "3.5"]


def test_queues_json(api, cli):
    api.json("GET", "/v1/queues", {"items": QUEUES, "total": 3})

    result = cli("queues", "--json")

    assert json.loads(result.stdout) == QUEUES


def test_queues_create_sends_only_what_was_given(api, cli):
    api.json("POST", "/v1/queues", QUEUES[1], status=201)

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


def test_queues_create_needs_deserved_gpus(api, cli):
    result = cli("queues", "create", "vision")

    assert result.exit_code == 2
    assert "--deserved-gpus" in result.output
    assert api.requests == []


def test_queues_set_patches_only_the_changed_fields(api, cli):
    api.json("PATCH", "/v1/queues/vision", QUEUES[1])

    result = cli("queues", "set", "vision", "--deserved-gpus", "2.5", "--no-limit")

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("PATCH", "/v1/queues/vision")
    assert seen.body == {"deserved_gpus": 2.5, "limit_gpus": None}


def test_queues_set_without_changes_is_refused(api, cli):
    result = cli("queues", "set", "vision")

    assert result.exit_code == 2
    assert "nothing to change" in result.output
    assert api.requests == []


def test_queues_delete(api, cli):
    api.on("DELETE", "/v1/queues/old", api.Reply(204))

    result = cli("queues", "delete", "old")

    assert result.exit_code == 0, result.output
    assert result.stdout == "queue old deleted\n"
    assert len(api.seen("DELETE", "/v1/queues/old")) == 1


def test_group_options_reach_the_subcommand(api, cli, dead_url):
    api.on("DELETE", "/v1/queues/old", api.Reply(204))

    result = cli("queues", "--url", api.url, "--token", "gsk_group", "delete", "old", GPUSCHED_URL=dead_url)

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("DELETE", "/v1/queues/old")
    assert seen.headers["authorization"] == "Bearer gsk_group"


def test_nodes_lists_each_gpu_with_allocation_use_memory_and_health(api, cli):
    api.json("GET", "/v1/nodes", NODES)

    result = cli("nodes")

    assert result.exit_code == 0, result.output
    lines = [squash(line) for line in result.stdout.splitlines()]
    first = next(line for line in lines if line.startswith("node-a"))
    assert first.startswith("node-a ready,cordoned watchdog 0 A100-80GB")
    assert "50%" in first and "37%" in first and "20G/80G" in first and first.endswith("ok")
    second = next(line for line in lines if "XID 79" in line)
    assert second.startswith("1 A100-80GB") and "100%" in second and "-/80G" in second
    assert next(line for line in lines if line.startswith("cpu-only")).startswith(
        "cpu-only not-ready none - (no GPUs)"
    )


def test_cordon_and_uncordon_post_to_the_node(api, cli):
    api.json("POST", "/v1/nodes/node-a/cordon", dict(NODES[0], cordoned=True))
    api.json("POST", "/v1/nodes/node-a/uncordon", dict(NODES[0], cordoned=False))

    assert cli("nodes", "cordon", "node-a").stdout == "node node-a cordoned\n"
    assert cli("nodes", "uncordon", "node-a").stdout == "node node-a uncordoned\n"
    assert [(s.method, s.path) for s in api.requests] == [
        ("POST", "/v1/nodes/node-a/cordon"),
        ("POST", "/v1/nodes/node-a/uncordon"),
    ]


def test_join_token_prints_the_token(api, cli):
    api.json("POST", "/v1/agents/join-tokens", {"token": "gsj_abc", "expires_at": 2e9}, 201)

    result = cli("nodes", "join-token")

    assert result.exit_code == 0, result.output
    assert result.stdout == "gsj_abc\n"
    assert "expires" in result.stderr
    assert api.seen("POST", "/v1/agents/join-tokens")[0].headers["authorization"].startswith("Bearer ")


def test_join_token_sends_uses_and_allow_replace(api, cli):
    made = {"token": "gsj_abc", "expires_at": 2e9, "uses": 3, "allow_replace": True}
    api.json("POST", "/v1/agents/join-tokens", made, 201)

    result = cli("nodes", "join-token", "--uses", "3", "--allow-replace")

    assert result.exit_code == 0, result.output
    assert api.seen("POST", "/v1/agents/join-tokens")[0].body == {
        "uses": 3, "allow_replace": True,
    }
    assert "3 joins" in result.stderr and "may replace a lost node" in result.stderr


def test_top_once_renders_queues_gpus_and_jobs(api, cli):
    api.json("GET", "/v1/queues", QUEUES)
    api.json("GET", "/v1/nodes", NODES)
    running = {"id": "j-run", "queue": "vision", "status": "running", "gpus": 0.5, "replicas": 1}
    pending = {"id": "j-wait", "queue": "nlp", "status": "pending", "gpus": 1, "replicas": 1}
    api.on(
        "GET",
        "/v1/jobs",
        lambda seen: api.Reply(200, [running] if seen.query["status"] == "running" else [pending]),
    )

    result = cli("top", "--once")

    assert result.exit_code == 0, result.output
    out = result.stdout
    # 0.5 + 1.0 of 2 GPUs allocated; 5 pending in the leaves (vision 2 + nlp 3), not 10
    assert "GPUs 1.5/2 allocated" in out
    assert "75%" in out
    assert "nodes 0/2 schedulable" in squash(out)  # node-a cordoned, cpu-only not ready
    assert "running 1" in out and "pending 5" in out
    for word in ("research", "vision", "A100-80GB", "XID 79", "j-run", "j-wait"):
        assert word in out, word
    statuses = sorted(s.query.get("status", "") for s in api.seen("GET", "/v1/jobs"))
    assert statuses == ["pending", "running"]


def test_top_once_with_the_server_down_exits_1(cli, dead_url):
    result = cli("top", "--once", GPUSCHED_URL=dead_url)

    assert result.exit_code == 1
    assert "cannot reach gpusched" in result.stderr


def test_join_token_ttl_goes_in_the_body(api, cli):
    api.json("POST", "/v1/agents/join-tokens", {"token": "gsj_x", "expires_at": 2e9}, 201)

    assert cli("nodes", "join-token", "--ttl", "600").exit_code == 0

    assert api.seen("POST", "/v1/agents/join-tokens")[0].body == {"ttl_seconds": 600.0}


def test_queues_show_running_jobs_when_the_server_counts_them(api, cli):
    api.json("GET", "/v1/queues", [dict(QUEUES[0], running_jobs=7)])

    result = cli("queues")

    assert "RUNNING" in result.stdout
    assert line_with(result.stdout, "research").split()[-2:] == ["5", "7"]


def _serve_cluster(api):
    api.json("GET", "/v1/queues", QUEUES)
    api.json("GET", "/v1/nodes", NODES)
    api.json("GET", "/v1/jobs", [])


def test_top_once_json_is_one_object_with_every_section(api, cli):
    _serve_cluster(api)

    result = cli("top", "--once", "-o", "json")

    assert result.exit_code == 0, result.output
    snapshot = json.loads(result.stdout)
    assert snapshot["queues"] == QUEUES and snapshot["nodes"] == NODES
    assert snapshot["running"] == [] and snapshot["pending"] == []
    assert cli("top", "--json").exit_code == 2  # JSON of a live view makes no sense


def test_top_without_an_admin_token_still_shows_queues_and_jobs(api, cli):
    _serve_cluster(api)
    api.json("GET", "/v1/nodes", {"detail": "admin token required"}, status=403)

    result = cli("top", "--once")

    assert result.exit_code == 0, result.output
    assert "GPUs hidden: listing nodes needs an admin token" in result.stdout
    assert "research" in result.stdout


def test_top_live_redraws_keeps_going_through_a_server_error_and_stops_on_ctrl_c(api, cli, monkeypatch):
    from scheduler.cli import top

    _serve_cluster(api)
    api.on(
        "GET",
        "/v1/queues",
        api.Reply(200, QUEUES),
        api.Reply(503, {"detail": "restarting"}),
        api.Reply(200, QUEUES),
    )
    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
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


def test_top_live_stops_when_the_token_is_revoked(api, cli, monkeypatch):
    from scheduler.cli import top

    _serve_cluster(api)
    api.on("GET", "/v1/queues", api.Reply(200, QUEUES), api.Reply(401, {"detail": "token revoked"}))
    monkeypatch.setattr(top, "pause", lambda seconds: None)

    result = cli("top")

    assert result.exit_code == 1
    assert "the token was rejected (token revoked" in result.stderr


def test_top_on_a_terminal_redraws_in_place_and_gives_the_screen_back(api, cli, monkeypatch):
    from scheduler.cli import top

    _serve_cluster(api)
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
