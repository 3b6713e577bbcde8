"""Agent footprint: `gpusched agent` at 1 Hz over 8 fake GPUs; prints CPU % of one core and RSS.

    .venv/bin/python benchmarks/agent_footprint.py [--seconds 60] [--gpus 8]

The agent runs as its own process against the fake libnvidia-ml.so.1 (built here with gcc) and a
fake scheduler in this process that keeps one replica running on the node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.testing.fake_nvml import STATE_ENV, FakeNvmlState, build_library, fake_gpus
from agent.testing.fake_scheduler import FakeScheduler, serve

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gpusched-footprint-"))
    library = build_library(work / "lib")
    state = FakeNvmlState(path=work / "nvml-state", gpus=fake_gpus(args.gpus))
    for gpu in state.gpus:
        gpu.utilization, gpu.used_mib = 60, 30000
    state.write()
    scheduler = FakeScheduler()
    scheduler.tokens["bench-token"] = "bench"
    scheduler.desired["bench"] = [{
        "job_id": "bench-job", "replica": 0, "command": ["sleep", str(int(args.seconds) + 60)],
        "gpus": [{"index": 0, "uuid": state.gpus[0].uuid, "milli": 500}],
    }]
    gpusched = shutil.which("gpusched", path=str(Path(sys.executable).parent)) or "gpusched"
    env = {**os.environ, STATE_ENV: str(state.path), "GPUSCHED_NVML_LIBRARY": str(library)}
    with serve(scheduler) as url:
        agent = subprocess.Popen(
            [gpusched, "agent", "--server", url, "--token", "bench-token", "--name", "bench",
             "--home", str(work / "home"), "--interval", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(args.warmup)  # imports and the first NVML scan are not steady state
            beats0, cpu0 = len(scheduler.heartbeats), cpu_seconds(agent.pid)
            wall0 = time.monotonic()
            time.sleep(args.seconds)
            beats1, cpu1 = len(scheduler.heartbeats), cpu_seconds(agent.pid)
            wall1 = time.monotonic()
            rss, peak = memory_mb(agent.pid, "VmRSS"), memory_mb(agent.pid, "VmHWM")
        finally:
            agent.terminate()
            agent.wait(10)
    last = scheduler.last_heartbeat("bench")
    result = {
        "gpus": args.gpus,
        "seconds": round(wall1 - wall0, 1),
        "heartbeats": beats1 - beats0,
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 2),
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "replica_state": last["replicas"][0]["state"] if last["replicas"] else None,
    }
    print(json.dumps(result))
    for replica in last["replicas"]:  # the agent leaves replicas running by design; end ours
        if replica["pid"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(replica["pid"], signal.SIGKILL)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
