"""The standalone runner: environment, logs, exit codes, eviction of process groups, restarts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent import procfs
from agent.runner import Runner
from scheduler.protocol import DesiredReplica

UUID = "GPU-11111111-2222-3333-4444-555555555555"
GPU_MEMORY = {UUID: 81920, "GPU-b": 81920}


def make_runner(tmp_path: Path, *, mps: bool = False) -> Runner:
    return Runner(log_dir=tmp_path / "logs",
                  state_file=tmp_path / "agent" / "node" / "replicas.json", mps_available=mps)


def spec(command: list[str], **kw: object) -> DesiredReplica:
    fields: dict[str, Any] = {"job_id": "job1", "replica": 0, "command": command,
                    "gpus": [{"index": 0, "uuid": UUID, "milli": 500}], **kw}
    return DesiredReplica.model_validate(fields)


def wait_for(check: Callable[[], bool], runner: Runner, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.poll()
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out; replicas: {runner.report()}")


def run_to_end(runner: Runner, replica: DesiredReplica) -> dict[str, Any]:
    runner.reconcile([replica], gpu_memory=GPU_MEMORY)
    wait_for(lambda: runner.replicas[replica.key].state != "running", runner)
    return runner.replicas[replica.key].to_report()


def test_replica_gets_its_devices_grant_and_gang_place(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    replica = spec(["sh", "-c", "env | sort"], replica=1, replicas=2, master_addr="node-a",
                   master_port=29511, env={"MY_FLAG": "1"})
    assert run_to_end(runner, replica)["state"] == "succeeded"

    env = dict(line.split("=", 1) for line in
               (tmp_path / "logs/job1/1.log").read_text().splitlines() if "=" in line)
    assert env["CUDA_VISIBLE_DEVICES"] == UUID
    assert env["GPUSCHED_GPU_FRACTION"] == "0.5"
    assert env["GPUSCHED_GPU_MEMORY_LIMIT_MIB"] == "40960"  # half of 81920 MiB
    assert (env["GPUSCHED_JOB_ID"], env["GPUSCHED_REPLICA_INDEX"], env["GPUSCHED_REPLICAS"]) == (
        "job1", "1", "2")
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["WORLD_SIZE"], env["RANK"]) == (
        "node-a", "29511", "2", "1")
    assert env["LOCAL_RANK"] == "0" and env["MY_FLAG"] == "1"
    assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in env  # no MPS daemon on this node


def test_mps_limits_are_set_where_an_mps_daemon_runs(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, mps=True)
    shared = spec(["true"], gpu_memory_limit_mib=20480)
    env = runner.replica_env(shared, GPU_MEMORY)
    assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=20480M"
    assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "50"
    whole = spec(["true"], gpus=[{"index": 0, "uuid": UUID}, {"index": 1, "uuid": "GPU-b"}])
    env = runner.replica_env(whole, GPU_MEMORY)
    assert env["CUDA_VISIBLE_DEVICES"] == f"{UUID},GPU-b"
    assert env["GPUSCHED_GPU_FRACTION"] == "2"
    assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in env  # whole GPUs are not shared


@pytest.mark.parametrize(
    ("command", "state", "exit_code"),
    [
        (["sh", "-c", "echo hello; exit 0"], "succeeded", 0),
        (["sh", "-c", "echo oops >&2; exit 3"], "failed", 3),
        (["/no/such/program"], "failed", 127),
    ],
)
def test_exit_codes_and_logs(tmp_path: Path, command: list[str], state: str,
                             exit_code: int) -> None:
    runner = make_runner(tmp_path)
    report = run_to_end(runner, spec(command))
    assert (report["state"], report["exit_code"]) == (state, exit_code)
    assert report["finished_at"] >= report["started_at"]
    log = (tmp_path / "logs/job1/0.log").read_text()
    assert {"succeeded": "hello", "failed": "oops" if exit_code == 3 else "no/such/program"}[
        state] in log


def test_eviction_terms_then_kills_the_whole_process_group(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    # The replica ignores SIGTERM and has a child doing the same: only SIGKILL ends them.
    stubborn = spec(["sh", "-c", "trap '' TERM; sh -c \"trap '' TERM; sleep 60\" & "
                     "echo started; sleep 60"], grace_seconds=0.5)
    runner.reconcile([stubborn], gpu_memory=GPU_MEMORY)
    rep = runner.replicas[stubborn.key]
    assert rep.pid is not None
    wait_for(lambda: "started" in runner.log_path(stubborn.key).read_text(), runner)
    assert procfs.group_alive(rep.pid)

    runner.reconcile([], gpu_memory=GPU_MEMORY)  # no longer desired here
    runner.poll()
    assert rep.state == "running" and procfs.group_alive(rep.pid)  # SIGTERM ignored, in grace
    wait_for(lambda: rep.state == "killed", runner)

    assert not procfs.group_alive(rep.pid)
    assert rep.to_report()["state"] == "killed"
    assert "no longer desired" in rep.message
    # Forgotten only after a heartbeat carried the end.
    runner.reconcile([], gpu_memory=GPU_MEMORY)
    assert stubborn.key in runner.replicas
    runner.acknowledge([stubborn.key])
    runner.reconcile([], gpu_memory=GPU_MEMORY)
    assert stubborn.key not in runner.replicas


def test_a_restarted_agent_adopts_running_replicas_without_duplicates(tmp_path: Path) -> None:
    first = make_runner(tmp_path)
    sleeper = spec(["sleep", "30"])
    first.reconcile([sleeper], gpu_memory=GPU_MEMORY)
    pid = first.replicas[sleeper.key].pid
    assert pid is not None

    second = make_runner(tmp_path)  # the agent restarted; the process kept running
    second.reconcile([sleeper], gpu_memory=GPU_MEMORY)
    assert second.replicas[sleeper.key].pid == pid
    assert second.replicas[sleeper.key].state == "running"
    wait_for(lambda: _sleepers_of(pid) > 0, second)
    assert _sleepers_of(pid) == 1  # not started twice

    second.reconcile([], gpu_memory=GPU_MEMORY)
    wait_for(lambda: second.replicas[sleeper.key].state == "killed", second)
    first.poll()  # reap our child so the test leaves no zombie


def test_a_restarted_agent_reports_how_replicas_ended_meanwhile(tmp_path: Path) -> None:
    first = make_runner(tmp_path)
    quick = spec(["sh", "-c", "exit 4"])
    gone = spec(["sleep", "30"], replica=1)
    first.reconcile([quick, gone], gpu_memory=GPU_MEMORY)
    deadline = time.monotonic() + 10
    while not first._exit_file(quick.key).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The second replica's process is replaced by another with the same pid in the state file.
    first.replicas[gone.key].start_ticks += 1
    first.save()

    second = make_runner(tmp_path)
    assert (second.replicas[quick.key].state, second.replicas[quick.key].exit_code) == ("failed", 4)
    lost = second.replicas[gone.key]
    assert lost.state == "lost" and "exit status unknown" in lost.message
    os.killpg(first.replicas[gone.key].pid or 0, 9)
    wait_for(lambda: first.replicas[gone.key].state != "running", first)


def test_bad_desired_entries_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match=r"command\n +Field required"):
        DesiredReplica.model_validate({"job_id": "j", "replica": 0})
    with pytest.raises(ValidationError, match=r"job_id\n +String should match pattern"):
        DesiredReplica.model_validate({"job_id": "../etc", "replica": 0, "command": ["true"]})
    with pytest.raises(ValidationError, match=r"gpus\.0\.index\n +Field required"):
        DesiredReplica.model_validate({"job_id": "j", "replica": 0, "command": ["x"], "gpus": [{}]})
    with pytest.raises(ValidationError, match=r"attempt\n +Input should be a valid integer"):
        DesiredReplica.model_validate({"job_id": "j", "replica": 0, "command": ["x"], "attempt": True})


def _sleepers_of(session: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = procfs.read_stat(int(entry.name))
            if stat and stat.session == session and stat.alive:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                count += cmdline.startswith(b"sleep\x0030")
    return count


def test_a_grant_of_a_gpu_this_node_lacks_fails_instead_of_running_blind(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    replica = spec(["true"], gpus=[{"index": 5, "uuid": "GPU-elsewhere"}])
    runner.reconcile([replica], gpu_memory=GPU_MEMORY)
    report = runner.replicas[replica.key].to_report()
    assert report["state"] == "failed" and "GPU-elsewhere" in report["message"]
    assert report["pid"] is None


@pytest.mark.parametrize(
    ("command", "env", "error"),
    [
        (["true"], {"A=B": "v"}, "illegal environment variable name"),
        (["echo", "a\x00b"], {}, "null byte"),
        (["true"], {"K": "v\x00w"}, "null byte"),
    ],
)
def test_a_spawn_that_fails_makes_the_replica_failed_with_the_error(
    tmp_path: Path, command: list[str], env: dict[str, str], error: str
) -> None:
    runner = make_runner(tmp_path)
    bad = spec(command, env=env)
    runner.reconcile([bad], gpu_memory=GPU_MEMORY)
    report = runner.replicas[bad.key].to_report()
    assert (report["state"], report["pid"]) == ("failed", None)
    assert report["message"].startswith("could not start:") and error in report["message"]
    runner.reconcile([], gpu_memory=GPU_MEMORY)  # cancelled: nothing to stop, nothing raises
    runner.poll()
    assert runner.replicas[bad.key].state == "failed"


def test_one_replica_whose_handling_raises_never_stops_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_runner(tmp_path)
    old = spec(["sleep", "30"], replica=0)
    cursed = spec(["sleep", "30"], replica=1)
    runner.reconcile([old, cursed], gpu_memory=GPU_MEMORY)
    cursed_pid = runner.replicas[cursed.key].pid
    real_exit = Runner._leader_exit
    real_env = Runner.replica_env

    def leader_exit(self: Runner, key: Any, rep: Any) -> Any:
        if key == cursed.key:
            raise RuntimeError("cursed replica")
        return real_exit(self, key, rep)

    def replica_env(self: Runner, s: DesiredReplica, memory: dict[str, int]) -> dict[str, str]:
        if s.job_id == "broken":
            raise RuntimeError("cannot build the environment")
        return real_env(self, s, memory)

    monkeypatch.setattr(Runner, "_leader_exit", leader_exit)
    monkeypatch.setattr(Runner, "replica_env", replica_env)
    new = spec(["sleep", "30"], job_id="job2")
    broken = spec(["true"], job_id="broken")
    runner.reconcile([new, broken], gpu_memory=GPU_MEMORY)  # old and cursed are stopped
    assert runner.replicas[new.key].state == "running"
    assert runner.replicas[broken.key].state == "failed"
    assert "cannot build the environment" in runner.replicas[broken.key].message
    wait_for(lambda: runner.replicas[old.key].state == "killed", runner)
    assert runner.replicas[new.key].state == "running"
    monkeypatch.setattr(Runner, "_leader_exit", real_exit)
    wait_for(lambda: runner.replicas[cursed.key].state == "killed", runner)
    assert cursed_pid is not None and not procfs.group_alive(cursed_pid)
    runner.reconcile([], gpu_memory=GPU_MEMORY)
    wait_for(lambda: runner.replicas[new.key].state == "killed", runner)


def test_a_new_attempt_stops_the_old_one_and_each_reports_its_own(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    first = spec(["sh", "-c", "echo attempt $GPUSCHED_ATTEMPT; sleep 30"], attempt=1)
    runner.reconcile([first], gpu_memory=GPU_MEMORY)
    wait_for(lambda: "attempt 1" in runner.log_path(first.key).read_text(), runner)

    second = spec(["sh", "-c", "echo attempt $GPUSCHED_ATTEMPT; sleep 30"], attempt=2)
    runner.reconcile([second], gpu_memory=GPU_MEMORY)
    wait_for(lambda: runner.replicas[first.key].state == "killed", runner)
    wait_for(lambda: "attempt 2" in runner.log_path(second.key).read_text(), runner)
    reports = {(r["job_id"], r["replica"], r["attempt"]): r["state"] for r in runner.report()}
    assert reports == {("job1", 0, 1): "killed", ("job1", 0, 2): "running"}
    assert runner.replicas[first.key].message == "replaced by attempt 2 of this replica"
    # One log per attempt; the first keeps the name a log had before attempts.
    assert runner.log_path(first.key) == tmp_path / "logs/job1/0.log"
    assert runner.log_path(second.key) == tmp_path / "logs/job1/0.2.log"
    assert "attempt 2" not in runner.log_path(first.key).read_text()
    runner.reconcile([], gpu_memory=GPU_MEMORY)
    wait_for(lambda: runner.replicas[second.key].state == "killed", runner)


def test_a_finished_replica_is_kept_until_acknowledged_and_undesired(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    quick = spec(["sh", "-c", "exit 5"])
    run_to_end(runner, quick)
    exit_file = runner._exit_file(quick.key)
    assert exit_file.read_text().strip() == "5"  # kept on disk with the state file

    restarted = make_runner(tmp_path)  # the agent restarts before the scheduler acknowledged
    assert restarted.replicas[quick.key].to_report()["exit_code"] == 5
    assert exit_file.exists()
    restarted.acknowledge([quick.key])
    restarted.reconcile([quick], gpu_memory=GPU_MEMORY)  # still desired: kept, not run again
    assert restarted.replicas[quick.key].state == "failed" and exit_file.exists()
    unacked = spec(["true"], replica=1)
    run_to_end(restarted, unacked)
    restarted.reconcile([], gpu_memory=GPU_MEMORY)  # undesired, but only one is acknowledged
    assert quick.key not in restarted.replicas and not exit_file.exists()
    assert unacked.key in restarted.replicas
    assert make_runner(tmp_path).replicas.keys() == {unacked.key}


def test_a_state_file_from_before_attempts_loads_as_attempt_one(tmp_path: Path) -> None:
    state = tmp_path / "agent" / "node" / "replicas.json"
    state.parent.mkdir(parents=True)
    old_spec = {"job_id": "old", "replica": 0, "command": ["true"], "replicas": 1, "env": {},
                "gpus": [], "gpu_memory_limit_mib": None, "master_addr": "127.0.0.1",
                "master_port": 29500, "grace_seconds": 30.0, "kill_over_grant": False}
    row = {"spec": old_spec, "state": "succeeded", "pid": 99, "start_ticks": 1, "exit_code": 0,
           "started_at": 1.0, "finished_at": 2.0, "over_grant": False, "message": "",
           "stop_deadline": None, "killed_hard": False, "reported": False, "log_offset": 0}
    # An agent before this fix could leave a replica whose spawn failed "running" with no pid.
    wedged = {**row, "spec": {**old_spec, "job_id": "wedged"}, "state": "running", "pid": None,
              "exit_code": None}
    state.write_text(json.dumps({"version": 1, "replicas": [row, wedged]}))
    runner = make_runner(tmp_path)
    assert {(r["job_id"], r["attempt"], r["state"]) for r in runner.report()} == {
        ("old", 1, "succeeded"), ("wedged", 1, "failed")}
    runner.reconcile([], gpu_memory=GPU_MEMORY)  # undesired but not acknowledged: kept
    assert runner.replicas[("old", 0, 1)].state == "succeeded"  # not acknowledged yet


def test_replicas_of_a_dead_agent_fence_themselves_when_its_lease_runs_out(
    tmp_path: Path,
) -> None:
    lease = tmp_path / "agent" / "node" / "run" / "lease"
    first = Runner(log_dir=tmp_path / "logs", state_file=tmp_path / "agent/node/replicas.json",
                   lease_file=lease)
    # It ignores SIGTERM, and so does its child: only the SIGKILL after the grace ends them.
    stubborn = spec(["sh", "-c", "trap '' TERM; sleep 60 & echo started; wait"],
                    grace_seconds=0.2)
    first.renew_lease(seconds=30)
    first.reconcile([stubborn], gpu_memory=GPU_MEMORY)
    pid = first.replicas[stubborn.key].pid
    assert pid is not None
    wait_for(lambda: "started" in first.log_path(stubborn.key).read_text(), first)
    assert lease.read_text().strip().isdigit()
    # The agent is SIGKILLed: nothing renews the lease, nothing polls, nobody stops the job.
    first.renew_lease(seconds=-1)
    deadline = time.monotonic() + 15
    while procfs.group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not procfs.group_alive(pid)

    second = make_runner(tmp_path)  # the agent comes back and reports what happened
    rep = second.replicas[stubborn.key]
    assert rep.state == "lost" and rep.message.startswith("the agent fenced itself")
    assert "started" in first.log_path(stubborn.key).read_text()
    first.poll()  # reap our child so the test leaves no zombie


def test_without_a_lease_file_replicas_run_on_when_the_agent_is_gone(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)  # as `gpusched up` runs them: they die only with it
    sleeper = spec(["sleep", "30"])
    runner.reconcile([sleeper], gpu_memory=GPU_MEMORY)
    env = runner.replica_env(sleeper, GPU_MEMORY)
    assert "GPUSCHED_LEASE_FILE" not in env
    runner.reconcile([], gpu_memory=GPU_MEMORY)
    wait_for(lambda: runner.replicas[sleeper.key].state == "killed", runner)
