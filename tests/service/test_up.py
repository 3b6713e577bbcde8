"""`gpusched up --simulate-gpus`: API, loop and local agent in one process, end to end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

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
