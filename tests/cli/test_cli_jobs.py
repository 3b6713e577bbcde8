"""`gpusched jobs|job|cancel|explain|logs` against canned API answers."""

from __future__ import annotations

import json

RUNNING = {
    "id": "j-run",
    "name": "resnet",
    "queue": "vision",
    "status": "running",
    "gpus": 0.5,
    "replicas": 1,
    "priority": 0,
    "created_at": 1_700_000_000.0,
    "allocations": [{"node": "node-a", "gpu_index": 3, "gpu_uuid": "GPU-aaa", "gpu_fraction": 0.5}],
}
PENDING = {
    "id": "j-wait",
    "name": "",
    "queue": "nlp",
    "status": "pending",
    "gpus": 8,
    "replicas": 4,
    "created_at": 1_700_000_100.0,
    "allocations": [],
    "reason": {
        "kind": "unschedulable",
        "summary": "queue nlp is at its limit of 16 GPUs",
        "items": [],
        "node_failures": {},
    },
}
EXPLAIN = {
    "job_id": "j-wait",
    "status": "pending",
    "kind": "unschedulable",
    "summary": "queue nlp is at its limit of 16 GPUs",
    "items": [
        {
            "code": "queue-limit",
            "message": "queue nlp is at its limit of 16 GPUs",
            "data": {"queue": "nlp", "limit_gpus": 16, "allocated_gpus": 16},
        },
        {
            "code": "near-miss",
            "message": "node-b has 6 of the 8 free GPUs a replica needs",
            "data": {"node": "node-b", "free_gpus": 6, "needed_gpus": 8},
        },
    ],
    "node_failures": {"gpu-count": 900, "cpu": 12},
}


def squash(text: str) -> str:
    return " ".join(text.split())


def test_jobs_table_shows_where_running_jobs_are_and_why_pending_ones_wait(api, cli):
    api.json("GET", "/v1/jobs", [RUNNING, PENDING])

    result = cli("jobs")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    running = next(line for line in lines if "j-run" in line)
    pending = next(line for line in lines if "j-wait" in line)
    assert squash(running).split()[:5] == ["j-run", "resnet", "vision", "running", "0.5"]
    assert "node-a:3(0.5)" in running
    assert "4x8" in pending  # 4 replicas of 8 GPUs
    assert "queue nlp is at its limit of 16 GPUs" in pending


def test_jobs_filters_go_out_as_query_parameters(api, cli):
    api.json("GET", "/v1/jobs", [])

    result = cli("jobs", "--queue", "vision", "--status", "pending", "--limit", "5")

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("GET", "/v1/jobs")
    assert seen.query == {"queue": "vision", "status": "pending", "limit": "5", "offset": "0"}
    assert "no jobs in queue vision" in result.stderr


def test_an_unknown_status_is_refused_locally(api, cli):
    result = cli("jobs", "--status", "sleeping")

    assert result.exit_code == 2
    assert api.requests == []


def test_jobs_follows_pages_until_total(api, cli):
    pages = {
        "0": {"items": [dict(RUNNING, id=f"j{i}") for i in range(100)], "total": 130},
        "100": {"items": [dict(RUNNING, id=f"j{i}") for i in range(100, 130)], "total": 130},
    }
    api.on("GET", "/v1/jobs", lambda seen: api.Reply(200, pages[seen.query["offset"]]))

    result = cli("jobs", "--json")

    assert result.exit_code == 0, result.output
    assert [job["id"] for job in json.loads(result.stdout)] == [f"j{i}" for i in range(130)]
    assert [s.query["offset"] for s in api.seen("GET", "/v1/jobs")] == ["0", "100"]


def test_job_shows_allocations_and_quotes_the_id(api, cli):
    api.json("GET", "/v1/jobs/a%2Fb", dict(RUNNING, id="a/b"))

    result = cli("job", "a/b")

    assert result.exit_code == 0, result.output
    assert "GPU-aaa" in result.stdout
    assert "node-a" in result.stdout
    assert api.seen("GET", "/v1/jobs/a%2Fb")


def test_job_json_is_the_api_object(api, cli):
    api.json("GET", "/v1/jobs/j-wait", PENDING)

    result = cli("job", "j-wait", "--json")

    assert json.loads(result.stdout) == PENDING


def test_cancel_deletes_each_job_and_fails_if_one_could_not_be(api, cli):
    api.json("DELETE", "/v1/jobs/j-run", dict(RUNNING, status="cancelled"))
    api.json("DELETE", "/v1/jobs/gone", {"detail": "job gone not found"}, status=404)

    result = cli("cancel", "j-run", "gone")

    assert result.exit_code == 1
    assert "j-run: cancelled" in result.stdout
    assert "gone: not found: job gone not found" in result.stderr
    assert len(api.seen("DELETE", "/v1/jobs/j-run")) == 1


def test_explain_ranks_reasons_with_their_numbers_and_node_failures(api, cli):
    api.json("GET", "/v1/jobs/j-wait/explain", EXPLAIN)

    result = cli("explain", "j-wait")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "job j-wait is pending — unschedulable: capacity is taken now" in out
    first = next(line for line in out.splitlines() if "queue-limit" in line)
    second = next(line for line in out.splitlines() if "near-miss" in line)
    assert squash(first).startswith("1 queue-limit queue nlp is at its limit of 16 GPUs")
    assert squash(second).startswith("2 near-miss node-b has 6 of the 8 free GPUs")
    assert "limit_gpus=16" in out and "free_gpus=6" in out
    failure_lines = [
        squash(line) for line in out.splitlines() if line.strip().startswith(("gpu-count", "cpu"))
    ]
    assert failure_lines[0].startswith("gpu-count 900")  # the biggest count first
    assert failure_lines[1].startswith("cpu 12")


def test_explain_of_a_running_job_says_there_is_nothing_to_explain(api, cli):
    answer = {"job_id": "j-run", "status": "running", "kind": None, "summary": "", "items": []}
    api.json("GET", "/v1/jobs/j-run/explain", answer)

    result = cli("explain", "j-run")

    assert result.exit_code == 0, result.output
    assert "nothing to explain: the job is running" in result.stdout


def test_logs_prints_the_text(api, cli):
    api.on("GET", "/v1/jobs/j-run/logs", api.Reply(200, text="epoch 1\nepoch 2\n"))

    result = cli("logs", "j-run")

    assert result.exit_code == 0, result.output
    assert result.stdout == "epoch 1\nepoch 2\n"
    assert result.stderr == ""


def test_logs_of_a_job_without_output_say_so(api, cli):
    api.on("GET", "/v1/jobs/j-wait/logs", api.Reply(200, text=""))

    result = cli("logs", "j-wait", "--replica", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "no output from job j-wait yet" in result.stderr
    assert api.seen("GET", "/v1/jobs/j-wait/logs")[0].query == {"replica": "2"}


def _growing_log(api, *, mode: str):
    """A job that runs for three polls, writing lines each time, then succeeds.

    mode: "all" sends the whole log, "range" honours `Range: bytes=N-`, "window" sends only the
    last 40 bytes (as a server with a tail limit does).
    """
    log = b""
    polls = {"n": 0}

    def status(seen):
        polls["n"] += 1
        return api.Reply(200, {"id": "j", "status": "running" if polls["n"] <= 3 else "succeeded"})

    def logs(seen):
        nonlocal log
        if polls["n"] <= 3:
            log += f"step {polls['n']} ✓\nstep {polls['n']} done\n".encode()
        start = int(seen.headers.get("range", "bytes=0-")[6:-1] or 0)
        if mode == "range" and start:
            if start >= len(log):
                return api.Reply(416, {"detail": "nothing past offset"})
            return api.Reply(206, text=log[start:])
        return api.Reply(200, text=log[-40:] if mode == "window" else log)

    api.on("GET", "/v1/jobs/j", status)
    api.on("GET", "/v1/jobs/j/logs", logs)


def test_logs_follow_prints_each_line_once_until_the_job_ends(api, cli):
    for mode in ("all", "range", "window"):
        api.requests.clear()
        _growing_log(api, mode=mode)

        result = cli("logs", "j", "--follow", "--interval", "0")

        assert result.exit_code == 0, result.output
        expected = "".join(f"step {i} ✓\nstep {i} done\n" for i in (1, 2, 3))
        assert result.stdout == expected, mode
        assert "job j succeeded" in result.stderr


def test_logs_follow_waits_for_a_job_that_has_written_nothing_yet(api, cli):
    statuses = iter(["pending", "running", "failed"])
    api.on("GET", "/v1/jobs/j", lambda seen: api.Reply(200, {"status": next(statuses)}))
    texts = iter([None, "boom\n", "boom\n"])

    def logs(seen):
        text = next(texts)
        if text is None:
            return api.Reply(404, {"detail": "no logs yet"})
        return api.Reply(200, text=text)

    api.on("GET", "/v1/jobs/j/logs", logs)

    result = cli("logs", "j", "-f", "--interval", "0")

    assert result.exit_code == 0, result.output
    assert result.stdout == "boom\n"


def test_jobs_follows_x_total_count_pages_and_says_when_more_exist(api, cli):
    jobs = [dict(RUNNING, id=f"j{i}") for i in range(250)]

    def page(seen):
        start, size = int(seen.query["offset"]), int(seen.query["limit"])
        return api.Reply(200, jobs[start : start + size], headers={"X-Total-Count": "250"})

    api.on("GET", "/v1/jobs", page)

    everything = cli("jobs", "--json", "--limit", "1000")
    some = cli("jobs", "--limit", "150")

    assert [job["id"] for job in json.loads(everything.stdout)] == [f"j{i}" for i in range(250)]
    assert "150 of 250 shown; --limit for more" in some.stderr
    assert sum("j1" in line.split() for line in some.stdout.splitlines()) == 1
    assert not any("j150" in line.split() for line in some.stdout.splitlines())


def test_explain_reads_reasons_nested_under_reason_with_the_queue_numbers(api, cli):
    nested = {
        "id": "j-wait",
        "status": "pending",
        "summary": EXPLAIN["summary"],
        "reason": {k: EXPLAIN[k] for k in ("kind", "summary", "items", "node_failures")},
        "queue": "nlp",
        "queue_deserved_gpus": 4.0,
        "queue_fair_share_gpus": 6.0,
        "queue_allocated_gpus": 16.0,
        "allocations": [],
    }
    api.json("GET", "/v1/jobs/j-wait/explain", nested)

    result = cli("explain", "j-wait")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "job j-wait is pending — unschedulable" in out
    assert "queue nlp: deserved 4, fair share 6, allocated 16 GPUs" in out
    assert "1 queue-limit" in squash(out) and "2 near-miss" in squash(out)
    assert "gpu-count 900" in squash(out)


def test_explain_of_a_running_job_shows_where_it_runs(api, cli):
    answer = {
        "id": "j-run",
        "status": "running",
        "summary": "running with 1 GPU share(s)",
        "reason": None,
        "allocations": RUNNING["allocations"],
    }
    api.json("GET", "/v1/jobs/j-run/explain", answer)

    result = cli("explain", "j-run")

    assert result.exit_code == 0, result.output
    assert "running with 1 GPU share(s)" in result.stdout
    assert "runs on node-a:3(0.5)" in result.stdout


def test_explain_renders_what_the_real_core_decides(api, cli):
    from scheduler.core.config import CycleConfig
    from scheduler.core.cycle import run_cycle
    from scheduler.core.model import GPU, Job, Node, ReplicaRequest, Snapshot

    # 3 nodes x 2 GPUs; "fill" takes all 6 GPUs, so "wait" (1 GPU) finds no free GPU anywhere.
    nodes = tuple(
        Node(f"n{i}", 64_000, 512_000, tuple(GPU(g, "A100", 81920, f"n{i}-{g}") for g in range(2)))
        for i in range(3)
    )
    jobs = (
        Job("fill", "q", ReplicaRequest(1000, 1024, 2000), replicas=3, created_at=0.5),
        Job("wait", "q", ReplicaRequest(1000, 1024, 1000), created_at=3.0),
    )
    reason = run_cycle(Snapshot(nodes, jobs), CycleConfig(), now=10.0).reasons["wait"]
    stored = {  # as the service stores it in jobs.reason and the API shows it
        "kind": str(reason.kind),
        "summary": reason.summary,
        "items": [{"code": i.code, "message": i.message, "data": dict(i.data)} for i in reason.items],
        "node_failures": dict(reason.node_failures),
    }
    answer = {"id": "wait", "status": "pending", "summary": reason.summary, "reason": stored}
    api.json("GET", "/v1/jobs/wait/explain", answer)

    result = cli("explain", "wait")

    assert result.exit_code == 0, result.output
    out = squash(result.stdout)
    assert "job wait is pending — unschedulable" in out
    assert f"1 {reason.items[0].code} {reason.items[0].message}" in out
    assert f"best_node={reason.items[0].data['best_node']}" in out
    for code, count in reason.node_failures.items():
        assert f"{code} {count}" in out


def test_jobs_show_who_submitted_when_the_server_says(api, cli):
    api.json("GET", "/v1/jobs", [dict(RUNNING, user="alice"), dict(PENDING, user="")])

    result = cli("jobs")

    assert "USER" in result.stdout
    assert squash(next(line for line in result.stdout.splitlines() if "j-run" in line)).split()[:5] == [
        "j-run", "resnet", "vision", "alice", "running",
    ]  # fmt: skip
    assert " - " in next(line for line in result.stdout.splitlines() if "j-wait" in line)
