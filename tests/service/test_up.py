"""`gpusched up --simulate-gpus`: API, loop and local agent in one process, end to end."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import procfs
from tests.service.test_crash import Service


def _wait_for(check: Any, seconds: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_half_gpu_jobs_share_the_simulated_gpu_and_log_its_uuid(tmp_path: Path) -> None:
    service = Service(tmp_path, extra_args=["--simulate-gpus", "1x1xA100-80GB"])
    service.start()
    try:
        with httpx.Client(base_url=service.url, headers=service.admin, timeout=30) as client:
            assert client.post("/v1/queues", json={"name": "q"}).status_code == 201
            node = _wait_for(lambda: client.get("/v1/nodes").json(), what="the local agent's node")[0]
            uuid = node["gpus"][0]["uuid"]
            body = {"queue": "q", "gpus": 0.5,
                    "command": ["sh", "-c", "echo $CUDA_VISIBLE_DEVICES; sleep 2"]}
            ids = [client.post("/v1/jobs", json=body).json()["id"] for _ in range(2)]

            def both_running_on_one_gpu() -> bool:
                jobs = [client.get(f"/v1/jobs/{i}").json() for i in ids]
                held = {a["gpu_uuid"] for j in jobs for a in j["allocations"]}
                return all(j["status"] == "running" for j in jobs) and held == {uuid}

            _wait_for(both_running_on_one_gpu, what="both jobs running on the one GPU")
            _wait_for(
                lambda: all(
                    client.get(f"/v1/jobs/{i}").json()["status"] == "succeeded" for i in ids
                ),
                what="both jobs to succeed",
            )
            for job_id in ids:
                assert client.get(f"/v1/jobs/{job_id}/logs").text.strip() == uuid
    finally:
        service.kill()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def test_an_evicted_job_loses_its_whole_process_group(tmp_path: Path) -> None:
    # A job whose shell ignores SIGTERM and whose child sleeps: cancelling it must still end both.
    service = Service(tmp_path, extra_args=["--simulate-gpus", "1x1xA100-80GB"])
    service.start()
    pids = tmp_path / "pids"
    script = f"trap '' TERM; sleep 300 & echo $$ $! > {pids}; wait"
    try:
        with httpx.Client(base_url=service.url, headers=service.admin, timeout=30) as client:
            assert client.post("/v1/queues", json={"name": "q"}).status_code == 201
            _wait_for(lambda: client.get("/v1/nodes").json(), what="the local agent's node")
            body = {"queue": "q", "gpus": 0.5, "command": ["sh", "-c", script]}
            job_id = client.post("/v1/jobs", json=body).json()["id"]
            _wait_for(lambda: pids.exists() and pids.read_text().strip(), what="the job to start")
            shell, child = (int(p) for p in pids.read_text().split())
            assert _alive(shell) and _alive(child)
            assert client.delete(f"/v1/jobs/{job_id}").status_code in (200, 202, 204)
            # SIGTERM is ignored by the shell; SIGKILL to the group follows the grace period
            _wait_for(lambda: not _alive(shell) and not _alive(child), seconds=90,
                      what="the job's process group to be killed")
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    finally:
        service.kill()


@pytest.mark.parametrize(
    ("sig", "keep_jobs"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
)
def test_a_stopped_up_stops_its_jobs_unless_told_to_keep_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals, keep_jobs: bool
) -> None:
    # A job that ignores SIGTERM, it and its child: only the SIGKILL after the grace ends it.
    monkeypatch.setenv("GPUSCHED_GRACE_SECONDS", "1")
    extra = ["--simulate-gpus", "1x1xT4", *(["--keep-jobs"] if keep_jobs else [])]
    service = Service(tmp_path, extra_args=extra)
    service.start()
    pids = tmp_path / "pids"
    script = f"trap '' TERM; sleep 300 & echo $$ > {pids}; wait"
    group = 0
    try:
        with httpx.Client(base_url=service.url, headers=service.admin, timeout=30) as client:
            assert client.post("/v1/queues", json={"name": "q"}).status_code == 201
            _wait_for(lambda: client.get("/v1/nodes").json(), what="the local agent's node")
            body = {"queue": "q", "gpus": 1, "command": ["sh", "-c", script]}
            assert client.post("/v1/jobs", json=body).status_code == 201
            _wait_for(lambda: pids.exists() and pids.read_text().strip(), what="the job to start")
        stat = procfs.read_stat(int(pids.read_text()))
        assert stat is not None and stat.alive
        group = stat.pgrp  # the replica's own process group (its session's leader)
        code = service.kill(sig, timeout=60)
        assert code >= 0, f"died of signal {-code} instead of stopping: {service.log()}"
        assert procfs.group_alive(group) == keep_jobs, service.log()
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
