"""A whole node agent (simulated or fake-NVML GPUs) against an in-test scheduler."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import procfs
from agent.daemon import AgentConfig, build_agents
from agent.node import NodeAgent
from agent.nvml import NvmlSource
from agent.reporter import Reporter
from agent.runner import Runner
from agent.testing.fake_nvml import FakeNvmlState
from agent.testing.fake_scheduler import JOIN_TOKEN, FakeScheduler, serve
from agent.watchdog import Watchdog


def tick_until(agents: list[NodeAgent], check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for agent in agents:
            agent.tick()
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def ever_reported(scheduler: FakeScheduler, node: str, job: str, state: str) -> bool:
    """True once any heartbeat of `node` reported replica 0 of `job` in `state`."""
    with scheduler.lock:
        return any(r["job_id"] == job and r["state"] == state
                   for name, beat in scheduler.heartbeats if name == node
                   for r in beat["replicas"])


def desired(job: str, gpu: dict[str, Any], command: list[str], **kw: object) -> dict[str, Any]:
    return {"job_id": job, "replica": 0, "replicas": 1, "command": command,
            "gpus": [{"index": gpu["index"], "uuid": gpu["uuid"], "milli": 500}],
            "grace_seconds": 1, **kw}


def test_simulated_nodes_join_run_a_job_and_upload_its_log(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    with serve(scheduler) as url:
        agents = build_agents(AgentConfig(server=url, home=tmp_path, join_token=JOIN_TOKEN,
                                          simulate_gpus="2x2xT4", name="lab"))
        assert [a.name for a in agents] == ["lab-sim-0", "lab-sim-1"]
        for agent in agents:
            agent.tick()
        token_file = tmp_path / "agent/lab-sim-1/token"
        assert token_file.read_text().strip() == "gsa_lab-sim-1"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

        beat = scheduler.last_heartbeat("lab-sim-1")
        node = beat["node"]
        assert (node["enforcement"], len(node["gpus"])) == ("none", 2)
        assert node["gpus"][0]["model"] == "T4"
        gpu = node["gpus"][1]
        scheduler.desired["lab-sim-1"] = [
            desired("j1", gpu, ["sh", "-c", "echo $CUDA_VISIBLE_DEVICES"])]

        def reported_done() -> bool:
            reps = scheduler.last_heartbeat("lab-sim-1")["replicas"]
            return bool(reps) and reps[0]["state"] == "succeeded"

        tick_until(agents, reported_done)
        assert scheduler.last_heartbeat("lab-sim-1")["replicas"][0]["exit_code"] == 0
        assert bytes(scheduler.logs[("lab-sim-1", "j1", 0, 1)]).decode().strip() == gpu["uuid"]
        # An upload from a stale offset is resynchronised by the scheduler's answer, not doubled.
        agents[1].runner.replicas[("j1", 0, 1)].log_offset = 0
        agents[1].tick()
        assert bytes(scheduler.logs[("lab-sim-1", "j1", 0, 1)]).decode().strip() == gpu["uuid"]

        scheduler.desired["lab-sim-1"] = []  # the scheduler recorded the end
        tick_until(agents, lambda: scheduler.last_heartbeat("lab-sim-1")["replicas"] == [])

        # One agent per node and home: a second one is refused while the first runs.
        refused = r"another agent \(pid \d+\) already runs node lab-sim-0"
        with pytest.raises(ValueError, match=refused):
            build_agents(AgentConfig(server=url, home=tmp_path, simulate_gpus="1x1xT4",
                                     name="lab"))
        for agent in agents:
            agent.close()
        # The same home and node token serve a restarted agent, with no join token.
        again = build_agents(AgentConfig(server=url, home=tmp_path, simulate_gpus="2x2xT4",
                                         name="lab"))
        again[1].tick()
        assert again[1].reporter.connected
        assert again[1].node_json()["gpus"] == node["gpus"]  # stable simulated UUIDs
        assert scheduler.refused == []  # every body the agent sent is the protocol's Heartbeat


def test_eviction_from_the_scheduler_is_reported_killed_and_load_follows(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["admin"] = "n-sim-0"
    with serve(scheduler) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, token="admin",
                                            simulate_gpus="1x1xA100-80GB", name="n"))
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("long", gpu, ["sleep", "60"])]
        tick_until([agent], lambda: scheduler.last_heartbeat("n-sim-0")["telemetry"][0][
            "utilization"] > 0)
        pid = scheduler.last_heartbeat("n-sim-0")["replicas"][0]["pid"]

        scheduler.desired["n-sim-0"] = []
        tick_until([agent], lambda: ever_reported(scheduler, "n-sim-0", "long", "killed"))
        assert not procfs.group_alive(pid)


def test_the_agent_rides_out_a_scheduler_outage(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    now = [0.0]
    with serve(scheduler) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, token="t",
                                            simulate_gpus="1x1xT4", name="n"))
        agent.reporter = Reporter(server=url, node="n-sim-0", token_file=tmp_path / "tok",
                                  token="t", clock=lambda: now[0])
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sleep", "30"])]
        agent.tick()
        pid = agent.runner.replicas[("j", 0, 1)].pid

        scheduler.down = True
        beats = len(scheduler.heartbeats)
        for _ in range(5):
            agent.tick()  # fails once, then backs off without blocking
        assert not agent.reporter.connected
        assert agent.runner.replicas[("j", 0, 1)].state == "running"  # jobs keep running
        now[0] += 60
        scheduler.down = False
        agent.tick()
        assert agent.reporter.connected and len(scheduler.heartbeats) > beats
        assert agent.runner.replicas[("j", 0, 1)].pid == pid
        scheduler.desired["n-sim-0"] = []
        tick_until([agent], lambda: ever_reported(scheduler, "n-sim-0", "j", "killed"))


def test_a_refused_join_token_is_not_fatal_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(FakeScheduler()) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, join_token="gsj_wrong",
                                            simulate_gpus="1x1xT4", name="n"))
        agent.tick()
        assert not agent.reporter.connected
        assert "unknown or expired join token" in caplog.text


def fake_nvml_agent(tmp_path: Path, url: str, library: Path, *, grace: float) -> NodeAgent:
    return NodeAgent(
        name="gpu-node",
        source=NvmlSource(library_path=str(library)),
        runner=Runner(log_dir=tmp_path / "logs", state_file=tmp_path / "state.json"),
        reporter=Reporter(server=url, node="gpu-node", token_file=tmp_path / "token", token="t"),
        watchdog=Watchdog(grace_seconds=grace),
        cpu_millis=8000, memory_mib=65536, enforcement="watchdog",
    )


@pytest.mark.parametrize("kill", [False, True])
def test_a_process_over_its_memory_grant_is_reported_or_killed(
    tmp_path: Path, fake_nvml_library: Path, nvml_state: FakeNvmlState, kill: bool
) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "gpu-node"
    with serve(scheduler) as url:
        agent = fake_nvml_agent(tmp_path, url, fake_nvml_library, grace=0.0)
        try:
            agent.tick()
            gpu = agent.node_json()["gpus"][0]
            scheduler.desired["gpu-node"] = [
                desired("greedy", gpu, ["sh", "-c", "sleep 30; true"], kill_over_grant=kill)]
            agent.tick()
            leader = agent.runner.replicas[("greedy", 0, 1)].pid
            children = Path(f"/proc/{leader}/task/{leader}/children")
            tick_until([agent], lambda: bool(children.read_text().split()))
            child = int(children.read_text().split()[0])
            # NVML sees the replica's child process using 50 GiB of a 40 GiB grant (0.5 x 80 GiB),
            # and a process of someone else's next to it.
            nvml_state.processes = [(0, child, 51200), (0, 1, 300)]
            nvml_state.write()
            agent.tick()

            beat = scheduler.last_heartbeat("gpu-node")
            procs = beat["telemetry"][0]["processes"]
            assert procs[0] == {"pid": child, "memory_mib": 51200, "job_id": "greedy",
                                "replica": 0}
            assert procs[1]["job_id"] is None
            rep = beat["replicas"][0]
            assert rep["over_grant"] and "over its grant of 40960 MiB" in rep["message"]
            if kill:
                tick_until([agent], lambda: scheduler.last_heartbeat("gpu-node")["replicas"][0][
                    "state"] == "killed")
                assert "killed by the watchdog" in scheduler.last_heartbeat("gpu-node")[
                    "replicas"][0]["message"]
            else:
                assert rep["state"] == "running"
                scheduler.desired["gpu-node"] = []
                tick_until([agent],
                           lambda: ever_reported(scheduler, "gpu-node", "greedy", "killed"))
            assert scheduler.refused == []  # telemetry with processes is the protocol's too
        finally:
            agent.close()


def test_the_embedded_agent_thread_heartbeats_and_stops(tmp_path: Path) -> None:
    from agent.daemon import start_in_thread

    scheduler = FakeScheduler()
    scheduler.tokens["admin"] = "box-sim-0"
    with serve(scheduler) as url:
        thread, stop = start_in_thread(AgentConfig(
            server=url, home=tmp_path, token="admin", simulate_gpus="1x2xT4", name="box",
            interval=0.2, upload_logs=False))
        deadline = time.monotonic() + 10
        while len(scheduler.heartbeats) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(scheduler.last_heartbeat("box-sim-0")["telemetry"]) == 2


def test_an_agent_beside_the_scheduler_falls_back_to_its_admin_token(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["gsadmin_secret"] = "here-sim-0"
    (tmp_path / "admin-token").write_text("gsadmin_secret\n")
    with serve(scheduler) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, simulate_gpus="1x1xT4",
                                            name="here", upload_logs=False))
        agent.tick()
        assert agent.reporter.connected
        agent.close()


def test_a_real_gpu_node_reports_watchdog_enforcement_and_its_driver(
    tmp_path: Path, fake_nvml_library: Path, nvml_state: FakeNvmlState
) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "gpu-box"
    with serve(scheduler) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, token="t", name="gpu-box",
                                            nvml_library=str(fake_nvml_library)))
        try:
            agent.tick()
        finally:
            agent.close()
    node = scheduler.last_heartbeat("gpu-box")["node"]
    assert node["enforcement"] == "watchdog"  # no MPS daemon here
    assert node["labels"]["gpusched.io/nvidia-driver"] == "550.54.15"
    assert [g["uuid"] for g in node["gpus"]] == [g.uuid for g in nvml_state.gpus]
    assert node["cpu_millis"] == (os.cpu_count() or 1) * 1000 and node["memory_mib"] > 0


def clocked_agent(tmp_path: Path, url: str, now: list[float], *, name: str = "n") -> NodeAgent:
    """A simulated node whose fence and back-off run on `now[0]`, not on the wall clock."""
    (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, token="t",
                                        simulate_gpus="1x1xT4", name=name, upload_logs=False))
    agent.reporter = Reporter(server=url, node=agent.name, token_file=tmp_path / "tok",
                              token="t", clock=lambda: now[0])
    agent.clock = lambda: now[0]
    agent.last_heartbeat_ok = now[0]
    return agent


def reports(scheduler: FakeScheduler, node: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    return {(r["job_id"], r["replica"], r["attempt"]): r
            for r in scheduler.last_heartbeat(node)["replicas"]}


def test_an_agent_cut_off_from_the_scheduler_fences_itself(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    scheduler.fence_seconds = 5.0
    now = [1000.0]
    with serve(scheduler) as url:
        agent = clocked_agent(tmp_path, url, now)
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sleep", "30"], attempt=3),
                                        desired("k", gpu, ["sleep", "30"], attempt=1)]
        agent.tick()
        assert agent.fence_seconds == 5.0
        # Should this agent die, its replicas' own watchers stop them a second after its fence.
        lease = int((tmp_path / "agent/n-sim-0/run/lease").read_text())
        assert time.time() + 5 <= lease <= time.time() + 7
        pids = {k: r.pid for k, r in agent.runner.replicas.items()}
        assert all(pids.values()) and set(pids) == {("j", 0, 3), ("k", 0, 1)}

        scheduler.down = True
        now[0] += 4.9  # within fence_seconds of the last reply: the jobs keep running
        agent.tick()
        assert agent.runner.running() == [("j", 0, 3), ("k", 0, 1)]
        now[0] += 0.2
        agent.tick()
        tick_until([agent], lambda: not agent.runner.running())
        for pid in pids.values():
            assert pid is not None and not procfs.group_alive(pid)

        # Back: the fenced replicas are reported lost (their jobs are requeued), saying why, and
        # not run again under the attempt they ran; the scheduler's new attempt of one starts.
        scheduler.down = False
        scheduler.acknowledge = False
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sleep", "30"], attempt=3),
                                        desired("k", gpu, ["sleep", "30"], attempt=2)]
        now[0] += 60  # past the reporter's back-off
        agent.tick()
        agent.tick()
        seen = reports(scheduler, "n-sim-0")
        assert seen[("j", 0, 3)]["state"] == seen[("k", 0, 1)]["state"] == "lost"
        assert seen[("j", 0, 3)]["message"].startswith("the agent fenced itself")
        assert seen[("k", 0, 2)]["state"] == "running"
        assert ("j", 0, 3) not in agent.runner.running()

        # Kept until acknowledged (and undesired); then forgotten.
        scheduler.desired["n-sim-0"] = [desired("k", gpu, ["sleep", "30"], attempt=2)]
        agent.tick()
        assert ("j", 0, 3) in agent.runner.replicas
        scheduler.acknowledge = True
        tick_until([agent], lambda: set(reports(scheduler, "n-sim-0")) == {("k", 0, 2)})
        scheduler.desired["n-sim-0"] = []
        tick_until([agent], lambda: not reports(scheduler, "n-sim-0"))


def test_the_fence_counts_from_the_agent_start_before_any_reply(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    now = [0.0]
    with serve(scheduler) as url:
        first = clocked_agent(tmp_path, url, now)
        first.tick()
        gpu = first.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sleep", "30"])]
        first.tick()
        first.close()

        scheduler.down = True  # the agent restarts while the scheduler is away
        again = clocked_agent(tmp_path, url, now)
        assert again.runner.running() == [("j", 0, 1)]  # adopted
        now[0] += 9.9
        again.tick()
        assert again.runner.running() == [("j", 0, 1)]
        now[0] += 0.2  # 10 s, the default before any reply said otherwise
        again.tick()
        tick_until([again], lambda: not again.runner.running())
        assert "fenced itself" in again.runner.replicas[("j", 0, 1)].message
        again.close()


def test_a_finished_replica_is_reported_until_the_scheduler_acknowledges_it(
    tmp_path: Path,
) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    scheduler.acknowledge = False
    now = [0.0]
    with serve(scheduler) as url:
        agent = clocked_agent(tmp_path, url, now)
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sh", "-c", "exit 3"], attempt=2)]
        tick_until([agent], lambda: ever_reported(scheduler, "n-sim-0", "j", "failed"))
        scheduler.desired["n-sim-0"] = []
        for _ in range(3):
            agent.tick()
        assert reports(scheduler, "n-sim-0")[("j", 0, 2)]["exit_code"] == 3
        agent.close()

        again = clocked_agent(tmp_path, url, now)  # the exit status survives a restart
        again.tick()
        assert reports(scheduler, "n-sim-0")[("j", 0, 2)]["exit_code"] == 3
        scheduler.acknowledge = True
        tick_until([again], lambda: not reports(scheduler, "n-sim-0"))
        assert not list((tmp_path / "agent/n-sim-0/run").glob("j.*"))  # exit file gone too
        again.close()


def test_a_scheduler_from_before_acknowledgements_still_lets_replicas_go(
    tmp_path: Path,
) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    scheduler.legacy = True
    now = [0.0]
    with serve(scheduler) as url:
        agent = clocked_agent(tmp_path, url, now)
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["true"])]  # no attempt: 1
        tick_until([agent], lambda: ever_reported(scheduler, "n-sim-0", "j", "succeeded"))
        assert agent.fence_seconds == 10.0
        scheduler.desired["n-sim-0"] = []
        tick_until([agent], lambda: not reports(scheduler, "n-sim-0"))
        agent.close()


def test_an_unreadable_log_never_stops_the_heartbeat(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    with serve(scheduler) as url:
        (agent,) = build_agents(AgentConfig(server=url, home=tmp_path, token="t",
                                            simulate_gpus="1x1xT4", name="n"))
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["true"])]
        tick_until([agent], lambda: ever_reported(scheduler, "n-sim-0", "j", "succeeded"))
        log_path = agent.runner.log_path(("j", 0, 1))
        log_path.unlink(missing_ok=True)
        log_path.mkdir()  # reading it fails
        beats = len(scheduler.heartbeats)
        agent.tick()
        assert len(scheduler.heartbeats) == beats + 1
        agent.close()


def test_a_short_outage_is_retried_often_enough_not_to_fence(tmp_path: Path) -> None:
    scheduler = FakeScheduler()
    scheduler.tokens["t"] = "n-sim-0"
    now = [0.0]
    with serve(scheduler) as url:
        agent = clocked_agent(tmp_path, url, now)
        agent.tick()
        gpu = agent.node_json()["gpus"][0]
        scheduler.desired["n-sim-0"] = [desired("j", gpu, ["sleep", "30"])]
        agent.tick()
        scheduler.down = True
        while now[0] < 8.5:  # down for 8.5 s of a 10 s fence
            now[0] += 0.5
            agent.tick()
        scheduler.down = False
        while now[0] < 9.5:
            now[0] += 0.5
            agent.tick()
        assert agent.reporter.connected and not agent.fenced
        assert agent.runner.running() == [("j", 0, 1)]
        scheduler.desired["n-sim-0"] = []
        tick_until([agent], lambda: not agent.runner.running())
        agent.close()
