"""`gpusched jobs|job|cancel|explain|logs` against the real app, state set up through its API."""

from __future__ import annotations

import json

import pytest

from scheduler.cli import client, client_commands


def squash(text: str) -> str:
    return " ".join(text.split())


def line_of(output: str, word: str) -> str:
    return next(line for line in output.splitlines() if word in line.split())


def running_job(api, *, gpus: float = 0.5, **fields):
    """A job bound by a real cycle and reported running by node-a's agent."""
    job = api.submit("vision", gpus, **fields)
    api.cycle()
    api.report("node-a", job["id"], "running")
    return api.ok("GET", f"/v1/jobs/{job['id']}")


@pytest.fixture
def cluster(api):
    """node-a with 2 GPUs; vision may use them, nlp at most 1."""
    api.join("node-a", gpus=2)
    api.queue("vision", deserved_gpus=2)
    api.queue("nlp", limit_gpus=1)
    return api


def test_jobs_table_shows_where_running_jobs_are_and_why_pending_ones_wait(cluster, cli):
    run = running_job(cluster, name="resnet")
    wait = cluster.submit("nlp", 1, replicas=2)  # 2 GPUs over nlp's limit of 1
    cluster.cycle()
    reason = cluster.ok("GET", f"/v1/jobs/{wait['id']}")["reason"]["summary"]

    result = cli("jobs")

    assert result.exit_code == 0, result.output
    running, pending = line_of(result.stdout, run["id"]), line_of(result.stdout, wait["id"])
    assert squash(running).split()[:6] == [run["id"], "resnet", "vision", "admin", "running", "0.5"]
    (share,) = run["allocations"]
    assert f"node-a:{share['gpu_index']}(0.5)" in running
    assert "2x1" in pending  # 2 replicas of 1 GPU
    assert reason and reason in pending


def test_jobs_filters_go_out_as_query_parameters(cluster, cli):
    result = cli("jobs", "--queue", "vision", "--status", "pending", "--limit", "5")

    assert result.exit_code == 0, result.output
    (seen,) = cluster.seen("GET", "/v1/jobs")
    assert seen.query == {"queue": "vision", "status": "pending", "limit": "5", "offset": "0"}
    assert "no jobs in queue vision" in result.stderr


def test_an_unknown_status_is_refused_locally(api, cli):
    result = cli("jobs", "--status", "sleeping")

    assert result.exit_code == 2
    assert api.requests == []


def test_jobs_follows_x_total_count_pages_and_says_when_more_exist(cluster, cli, monkeypatch):
    monkeypatch.setattr(client, "PAGE_SIZE", 10)  # 25 jobs make three pages
    ids = [cluster.submit("vision", 1)["id"] for _ in range(25)]

    everything = cli("jobs", "--json", "--limit", "1000")
    some = cli("jobs", "--limit", "15")

    assert [job["id"] for job in json.loads(everything.stdout)] == ids[::-1]  # newest first
    offsets = [s.query["offset"] for s in cluster.seen("GET", "/v1/jobs")]
    assert offsets[:3] == ["0", "10", "20"]
    assert "15 of 25 shown; --limit for more" in some.stderr
    shown = [line.split()[0] for line in some.stdout.splitlines()[1:] if line.strip()]
    assert shown == ids[::-1][:15]


def test_job_quotes_the_id(api, cli):
    result = cli("job", "a/b")

    assert result.exit_code == 1
    assert api.seen("GET", "/v1/jobs/a%2Fb")  # one path segment, not /v1/jobs/a/b
    assert "not found" in result.stderr


def test_job_shows_where_it_runs_then_where_it_ran_and_its_events(cluster, cli):
    job = running_job(cluster, gpus=1)
    (share,) = job["allocations"]

    now = cli("job", job["id"])

    assert now.exit_code == 0, now.output
    assert "allocations" in now.stdout and share["gpu_uuid"] in now.stdout
    assert squash(line_of(now.stdout, share["gpu_uuid"])).split() == [
        "0", "node-a", str(share["gpu_index"]), share["gpu_uuid"], "1",
    ]  # fmt: skip
    cluster.report("node-a", job["id"], "failed", exit_code=3)

    ended = cli("job", job["id"])

    assert ended.exit_code == 0, ended.output
    out = ended.stdout
    assert "last ran on" in out and share["gpu_uuid"] in out  # the share is free, not forgotten
    events = [squash(line).split()[2:] for line in out.split("events", 1)[1].splitlines()[2:]]
    assert [words[0] for words in events if words] == ["submitted", "bound", "started", "failed"]
    assert f"on node-a:{share['gpu_index']}" in out  # the bind names its GPU
    assert "status failed" not in out and "status=failed" in out
    assert any(words[:2] == ["started", "node-a"] for words in events)


def test_job_json_is_the_api_object(cluster, cli):
    job = cluster.submit("vision", 1)

    result = cli("job", job["id"], "--json")

    assert json.loads(result.stdout) == cluster.ok("GET", f"/v1/jobs/{job['id']}")
    assert not cluster.seen("GET", f"/v1/jobs/{job['id']}/events")


def test_cancel_deletes_each_job_and_fails_if_one_could_not_be(cluster, cli):
    job = running_job(cluster)

    result = cli("cancel", job["id"], "gone")

    assert result.exit_code == 1
    assert f"{job['id']}: cancelled" in result.stdout
    assert "gone: not found: no job with id 'gone'" in result.stderr
    assert cluster.ok("GET", f"/v1/jobs/{job['id']}")["status"] == "cancelled"
    (share,) = job["allocations"]
    listed = line_of(cli("jobs").stdout, job["id"])
    assert f"ran on node-a:{share['gpu_index']}(0.5)" in listed


def test_explain_renders_what_the_real_core_decides(api, cli):
    # 3 nodes x 2 GPUs; "fill" takes all 6 GPUs, so "wait" (1 GPU) finds no free GPU anywhere.
    for name in ("n0", "n1", "n2"):
        api.join(name, gpus=2)
    api.queue("q", deserved_gpus=4)
    api.submit("q", 2, replicas=3)
    api.cycle()
    wait = api.submit("q", 1)
    api.cycle()
    answer = api.ok("GET", f"/v1/jobs/{wait['id']}/explain")
    reason = answer["reason"]

    result = cli("explain", wait["id"])

    assert result.exit_code == 0, result.output
    out = squash(result.stdout)
    assert f"job {wait['id']} is pending — {reason['kind']}" in out
    assert "queue q: deserved 4, fair share" in out and "allocated 6 GPUs" in out
    first = reason["items"][0]
    assert f"1 {first['code']} {first['message']}" in out
    for key, value in first["data"].items():
        if isinstance(value, str | int) and not isinstance(value, bool):
            assert f"{key}={value}" in out
    failures = sorted(reason["node_failures"].items(), key=lambda kv: -kv[1])
    assert failures
    for code, count in failures:
        assert f"{code} {count}" in out
    lines = [squash(line) for line in result.stdout.splitlines()]
    firsts = [next(i for i, line in enumerate(lines) if line.startswith(f"{c} {n}")) for c, n in failures]
    assert firsts == sorted(firsts)  # the biggest count first


def test_explain_before_the_first_cycle_says_no_reason_is_recorded_yet(cluster, cli):
    job = cluster.submit("vision", 1)

    result = cli("explain", job["id"])

    assert result.exit_code == 0, result.output
    assert f"job {job['id']} is pending" in result.stdout
    assert "no reason recorded yet" in result.stdout


def test_explain_of_a_running_job_shows_where_it_runs(cluster, cli):
    job = running_job(cluster)
    (share,) = job["allocations"]

    result = cli("explain", job["id"])

    assert result.exit_code == 0, result.output
    assert "running with 1 GPU share(s)" in result.stdout
    assert f"runs on node-a:{share['gpu_index']}(0.5)" in result.stdout


def test_logs_prints_the_text(cluster, cli):
    job = running_job(cluster)
    cluster.write_log(job["id"], "epoch 1\nepoch 2\n")

    result = cli("logs", job["id"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "epoch 1\nepoch 2\n"
    assert result.stderr == ""


def test_logs_of_a_job_without_output_say_so(cluster, cli):
    job = cluster.submit("vision", 1, replicas=3)

    result = cli("logs", job["id"], "--replica", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"no output from job {job['id']} yet" in result.stderr
    assert cluster.seen("GET", f"/v1/jobs/{job['id']}/logs")[0].query == {"replica": "2"}


def test_logs_follow_prints_each_line_once_until_the_job_ends(cluster, cli, monkeypatch):
    job = running_job(cluster)
    log = ""
    polls = []

    def between_polls(seconds):
        # The job writes two lines a poll for three polls, then its agent reports it done.
        nonlocal log
        polls.append(seconds)
        if len(polls) <= 3:
            log += f"step {len(polls)} ✓\nstep {len(polls)} done\n"
            cluster.write_log(job["id"], log)
        else:
            cluster.report("node-a", job["id"], "succeeded", exit_code=0)

    monkeypatch.setattr(client_commands.time, "sleep", between_polls)

    result = cli("logs", job["id"], "--follow", "--interval", "0.25")

    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(f"step {i} ✓\nstep {i} done\n" for i in (1, 2, 3))
    assert f"job {job['id']} succeeded" in result.stderr
    assert set(polls) == {0.25}
    assert all("range" not in s.headers for s in cluster.seen("GET", f"/v1/jobs/{job['id']}/logs"))


def test_logs_follow_waits_for_a_job_that_has_written_nothing_yet(cluster, cli, monkeypatch):
    job = cluster.submit("vision", 1)
    steps = iter(["start", "fail"])

    def between_polls(seconds):
        step = next(steps)
        if step == "start":
            cluster.cycle()
            cluster.report("node-a", job["id"], "running")
            cluster.write_log(job["id"], "boom\n")
        else:
            cluster.report("node-a", job["id"], "failed", exit_code=1)

    monkeypatch.setattr(client_commands.time, "sleep", between_polls)

    result = cli("logs", job["id"], "-f", "--interval", "0")

    assert result.exit_code == 0, result.output
    assert result.stdout == "boom\n"
    assert f"job {job['id']} failed" in result.stderr


def test_jobs_show_who_submitted(cluster, cli):
    alice = cluster.ok("POST", "/v1/tokens", json={"kind": "user", "name": "alice", "queues": ["vision"]})
    mine = cli("submit", "-q", "vision", "--gpus", "1", "--", "true", GPUSCHED_TOKEN=alice["token"])

    result = cli("jobs")

    assert "USER" in result.stdout
    words = squash(line_of(result.stdout, mine.stdout.strip())).split()
    assert words[:4] == [mine.stdout.strip(), "vision", "alice", "pending"]  # no name: blank
