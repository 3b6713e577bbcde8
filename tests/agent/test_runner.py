"""The standalone runner: environment, logs, exit codes, eviction of process groups, restarts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import procfs
from agent.runner import Runner
from agent.spec import ReplicaSpec

UUID = "GPU-11111111-2222-3333-4444-555555555555"
GPU_MEMORY = {UUID: 81920, "GPU-b": 81920}


def make_runner(tmp_path: Path, *, mps: bool = False) -> Runner:
    return Runner(log_dir=tmp_path / "logs",
                  state_file=tmp_path / "agent" / "node" / "replicas.json", mps_available=mps)


def spec(command: list[str], **kw: object) -> ReplicaSpec:
    fields: dict[str, Any] = {"job_id": "job1", "replica": 0, "command": command,
                    "gpus": [{"index": 0, "uuid": UUID, "milli": 500}], **kw}
    return ReplicaSpec.from_json(fields)


def wait_for(check: Callable[[], bool], runner: Runner, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.poll()
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out; replicas: {runner.report()}")


def run_to_end(runner: Runner, replica: ReplicaSpec) -> dict[str, Any]:
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
    runner.mark_reported([stubborn.key])
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
    with pytest.raises(ValueError, match="lacks 'command'"):
        ReplicaSpec.from_json({"job_id": "j", "replica": 0})
    with pytest.raises(ValueError, match="bad job_id"):
        ReplicaSpec.from_json({"job_id": "../etc", "replica": 0, "command": ["true"]})
    with pytest.raises(ValueError, match="bad gpus entry"):
        ReplicaSpec.from_json({"job_id": "j", "replica": 0, "command": ["x"], "gpus": [{}]})


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
