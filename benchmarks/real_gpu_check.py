"""Drive the agent on a real GPU: a fake scheduler places two half-GPU replicas on GPU 0.

Run by benchmarks/real_gpu_check.sh, which prepares the Python environment. Writes to $OUT:
inventory.json, telemetry.jsonl (one heartbeat per line), attribution.json, replicas.json,
summary.txt, agent.log and the replicas' logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent.testing.fake_scheduler import FakeScheduler, serve

# Each replica: GiB to hold and seconds to stay busy. Replica b asks for more than its half of an
# 80 GB card on purpose, so the watchdog has something to report (kill_over_grant stays off).
WORKLOAD = r"""
import os, sys, time
hold_gib, seconds = float(sys.argv[1]), float(sys.argv[2])
print("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"),
      "fraction", os.environ.get("GPUSCHED_GPU_FRACTION"),
      "limit_mib", os.environ.get("GPUSCHED_GPU_MEMORY_LIMIT_MIB"), flush=True)
try:
    import torch
    cuda = torch.cuda.is_available()
except ImportError:
    torch, cuda = None, False
end = time.time() + seconds
if not cuda:
    print("torch with CUDA is missing: CPU busy loop only, no GPU memory to attribute", flush=True)
    while time.time() < end:
        sum(i * i for i in range(100000))
    sys.exit(0)
block = torch.empty(int(hold_gib * 2**30), dtype=torch.uint8, device="cuda")
a = torch.randn(4096, 4096, device="cuda")
steps = 0
while time.time() < end:
    a = (a @ a).clamp_(-1, 1); steps += 1
    if steps % 200 == 0:
        torch.cuda.synchronize()
torch.cuda.synchronize()
print("held", hold_gib, "GiB; matmul steps", steps, "on", torch.cuda.get_device_name(0), flush=True)
"""


# The agent as `gpusched agent` runs it, without the CLI (whose other commands need the server's
# dependencies, which this machine may lack).
RUN_AGENT = """
import logging, signal, sys, threading
from pathlib import Path
from agent.daemon import AgentConfig, build_agents, run_agents
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
agents = build_agents(AgentConfig(server=sys.argv[1], home=Path(sys.argv[2]), token="check-token",
                                  name="gpu-check", interval=1.0, upload_logs=False))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
run_agents(agents, stop=stop)
"""


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
               .splitlines() if line.startswith("VmRSS:")) / 1024
    return cpu, rss


def main() -> None:
    out = Path(os.environ.get("OUT") or "real-gpu-out")
    out.mkdir(parents=True, exist_ok=True)
    seconds = float(os.environ.get("CHECK_SECONDS", "60"))
    home = out / "agent-home"
    workload = out / "workload.py"
    workload.write_text(WORKLOAD)
    scheduler = FakeScheduler()
    scheduler.tokens["check-token"] = "gpu-check"
    with serve(scheduler) as url, open(out / "agent.log", "w") as agent_log:
        agent = subprocess.Popen(
            [sys.executable, "-c", RUN_AGENT, url, str(home)],
            stdout=agent_log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not scheduler.heartbeats:
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the agent did not heartbeat; see {out / 'agent.log'}")
                time.sleep(0.5)
            node = scheduler.heartbeats[0][1]["node"]
            (out / "inventory.json").write_text(json.dumps(node, indent=2))
            gpu = node["gpus"][0]
            busy = max(10.0, seconds - 15)
            scheduler.desired["gpu-check"] = [
                _replica("half-a", gpu, [sys.executable, str(workload), "8", str(busy)]),
                _replica("half-b", gpu, [sys.executable, str(workload),
                                         str(round(gpu["memory_mib"] / 1024 * 0.55)), str(busy)]),
            ]
            cpu0, _ = proc_cpu_rss(agent.pid)
            began = time.monotonic()
            time.sleep(seconds)
            cpu1, rss = proc_cpu_rss(agent.pid)
            elapsed = time.monotonic() - began
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(20)
    beats = [body for _, body in scheduler.heartbeats]
    with open(out / "telemetry.jsonl", "w") as lines:
        for body in beats:
            lines.write(json.dumps({"telemetry": body["telemetry"],
                                    "replicas": body["replicas"]}) + "\n")
    (out / "attribution.json").write_text(json.dumps(_attribution(beats), indent=2))
    (out / "replicas.json").write_text(json.dumps(beats[-1]["replicas"], indent=2))
    for log in home.glob("logs/*/*.log"):
        (out / f"{log.parent.name}-{log.stem}.log").write_text(log.read_text())
    summary = _summary(node, beats, cpu_percent=100 * (cpu1 - cpu0) / elapsed, rss_mb=rss)
    (out / "summary.txt").write_text(summary)
    print(summary)


def _replica(job: str, gpu: dict[str, Any], command: list[str]) -> dict[str, Any]:
    return {"job_id": job, "replica": 0, "replicas": 1, "command": command,
            "gpus": [{"index": gpu["index"], "uuid": gpu["uuid"], "milli": 500}],
            "grace_seconds": 5, "kill_over_grant": False}


def _attribution(beats: list[dict[str, Any]]) -> dict[str, Any]:
    """Per process seen by NVML: its replica and the most GPU memory it used."""
    seen: dict[int, dict[str, Any]] = {}
    for body in beats:
        for gpu in body["telemetry"]:
            for proc in gpu["processes"]:
                row = seen.setdefault(proc["pid"], {"pid": proc["pid"], "gpu": gpu["uuid"],
                                                    "job_id": proc["job_id"], "max_memory_mib": 0})
                row["max_memory_mib"] = max(row["max_memory_mib"], proc["memory_mib"])
    return {"processes": sorted(seen.values(), key=lambda r: r["pid"])}


def _summary(node: dict[str, Any], beats: list[dict[str, Any]], *, cpu_percent: float,
             rss_mb: float) -> str:
    lines = [f"node {node['name']}: enforcement={node['enforcement']}, {len(node['gpus'])} GPU(s)"]
    lines += [f"  GPU {g['index']} {g['model']} {g['memory_mib']} MiB cc {g['compute_capability']}"
              f" mig={g['mig_mode']} {g['uuid']}" for g in node["gpus"]]
    util = [b["telemetry"][0]["utilization"] or 0 for b in beats if b["telemetry"]]
    mem = [b["telemetry"][0]["memory_used_mib"] or 0 for b in beats if b["telemetry"]]
    power = [b["telemetry"][0]["power_w"] or 0 for b in beats if b["telemetry"]]
    lines.append(f"GPU 0 over {len(beats)} heartbeats: utilization max {max(util, default=0)} %, "
                 f"memory used max {max(mem, default=0)} MiB, power max {max(power, default=0)} W")
    over = sorted({r["job_id"] for b in beats for r in b["replicas"] if r["over_grant"]})
    lines.append(f"replicas flagged over their grant: {over or 'none'}")
    for row in _attribution(beats)["processes"]:
        lines.append(f"  pid {row['pid']} -> {row['job_id']}: max {row['max_memory_mib']} MiB")
    for rep in beats[-1]["replicas"]:
        lines.append(f"replica {rep['job_id']}: {rep['state']} exit={rep['exit_code']} "
                     f"{rep['message']}")
    lines.append(f"agent: {cpu_percent:.2f} % of one core, RSS {rss_mb:.1f} MB at 1 Hz")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
