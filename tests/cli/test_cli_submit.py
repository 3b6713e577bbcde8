"""`gpusched submit`: the request it sends, what it prints, and retries that never make two jobs."""

from __future__ import annotations

import json
import uuid

import pytest


@pytest.fixture
def queues(api):
    for name in ("vision", "nlp", "v"):
        api.queue(name)


def jobs_of(api):
    return api.ok("GET", "/v1/jobs")


def test_submit_sends_the_job_and_prints_its_id(api, cli, queues):
    result = cli("submit", "--queue", "vision", "--gpus", "0.5", "--", "python", "train.py")

    assert result.exit_code == 0, result.output
    (job,) = jobs_of(api)
    assert result.stdout == f"{job['id']}\n"
    assert job["status"] == "pending" and job["gpus"] == 0.5
    (seen,) = api.seen("POST", "/v1/jobs")
    assert seen.body == {"queue": "vision", "gpus": 0.5, "command": ["python", "train.py"]}
    assert seen.headers["authorization"] == f"Bearer {api.admin_token}"
    assert uuid.UUID(seen.headers["idempotency-key"]).version == 4


def test_every_option_reaches_the_body_and_the_command_keeps_its_own_flags(api, cli, queues):
    api.join("node-a", gpus=4)
    result = cli(
        "submit", "-q", "nlp", "--gpus", "2", "--gpu-memory", "20480", "--cpu", "4000",
        "--memory", "65536", "--replicas", "4", "--priority", "7", "--no-preempt",
        "--no-requeue", "--env", "LR=0.1", "--env", "TAG=a=b", "--name", "bert",
        "--", "torchrun", "--nproc", "8", "train.py", "--epochs=3",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("POST", "/v1/jobs")
    assert seen.body == {
        "queue": "nlp",
        "gpus": 2,  # a whole number goes out as an int, not 2.0
        "command": ["torchrun", "--nproc", "8", "train.py", "--epochs=3"],
        "gpu_memory_mib": 20480,
        "cpu_millis": 4000,
        "memory_mib": 65536,
        "replicas": 4,
        "priority": 7,
        "preemptible": False,
        "requeue": False,
        "env": {"LR": "0.1", "TAG": "a=b"},
        "name": "bert",
    }
    assert isinstance(seen.body["gpus"], int)
    (job,) = jobs_of(api)
    assert job["replicas"] == 4 and job["env"] == {"LR": "0.1", "TAG": "a=b"}
    assert job["preemptible"] is False and job["name"] == "bert"


def test_submit_json_prints_the_api_object(api, cli, queues):
    result = cli("submit", "-q", "vision", "--gpus", "0.5", "--json", "--", "sleep", "1")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == api.ok("GET", f"/v1/jobs/{printed['id']}")


def test_a_reset_is_retried_once_with_the_same_idempotency_key(api, cli, queues):
    api.transport.lose[("POST", "/v1/jobs")] = 1  # the server made the job; its reply was lost

    result = cli("submit", "-q", "vision", "--gpus", "1", "--", "python", "train.py")

    assert result.exit_code == 0, result.output
    (job,) = jobs_of(api)  # one job, not two
    assert result.stdout == f"{job['id']}\n"
    first, second = api.seen("POST", "/v1/jobs")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    assert "the server already had this submission: no second job" in result.stderr


def test_two_resets_give_up_with_a_message(api, cli, queues):
    api.transport.lose[("POST", "/v1/jobs")] = 2

    result = cli("submit", "-q", "vision", "--gpus", "1", "--", "python", "train.py")

    assert result.exit_code == 1
    assert len(api.seen("POST", "/v1/jobs")) == 2
    assert "did not answer POST /v1/jobs" in result.stderr
    assert "Traceback" not in result.output
    assert len(jobs_of(api)) == 1  # both tries carried the same key


def test_each_invocation_gets_a_fresh_key(api, cli, queues):

    for _ in range(2):
        assert cli("submit", "-q", "v", "--gpus", "1", "--", "true").exit_code == 0

    keys = {seen.headers["idempotency-key"] for seen in api.seen("POST", "/v1/jobs")}
    assert len(keys) == 2
    assert len(jobs_of(api)) == 2


def test_validation_errors_name_the_field(api, cli, queues):
    result = cli("submit", "-q", "vision", "--gpus", "1.5", "--", "python", "train.py")

    assert result.exit_code == 1
    assert "invalid request: gpus: Value error, gpus must be a fraction in (0, 1)" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_queue_message_comes_from_the_server(api, cli):
    result = cli("submit", "-q", "nope", "--gpus", "1", "--", "true")

    assert result.exit_code == 1
    # 404 from the real route: the request is well formed, the queue is not there
    assert "not found: queue 'nope' does not exist" in result.stderr


def test_bad_input_is_refused_before_anything_is_sent(api, cli):
    cases = [
        (["--gpus", "abc", "--", "true"], "'abc' is not a number"),
        (["--gpus", "nan", "--", "true"], "not a finite number"),
        (["--gpus", "1", "--env", "NOEQUALS", "--", "true"], "'NOEQUALS' is not NAME=VALUE"),
        (["--gpus", "1"], "give the command after `--`"),
        (["--", "true"], "how many GPUs?"),
    ]
    for args, message in cases:
        result = cli("submit", "-q", "vision", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    assert api.requests == []


def test_queue_is_required(api, cli):
    result = cli("submit", "--gpus", "1", "--", "true")

    assert result.exit_code == 2
    assert "which queue?" in result.output
    assert api.requests == []


def test_without_the_double_dash_the_command_still_keeps_its_flags(api, cli, queues):

    result = cli("submit", "-q", "vision", "--gpus", "1", "python", "train.py", "--gpus", "8")

    assert result.exit_code == 0, result.output
    (seen,) = api.seen("POST", "/v1/jobs")
    assert seen.body["command"] == ["python", "train.py", "--gpus", "8"]
    assert seen.body["gpus"] == 1
    assert jobs_of(api)[0]["command"] == ["python", "train.py", "--gpus", "8"]
