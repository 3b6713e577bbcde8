"""Build the fake libnvidia-ml.so.1 (fake_nvml.c) with gcc; write the state file that drives it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")
STATE_ENV = "FAKE_NVML_STATE"


def build_library(out_dir: Path) -> Path:
    """Compile fake_nvml.c into out_dir/libnvidia-ml.so.1; raises RuntimeError without gcc."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("building the fake NVML library needs gcc (apt-get install gcc)")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "libnvidia-ml.so.1"
    cmd = [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(target), str(SOURCE)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gcc failed to build the fake NVML library:\n{done.stderr}")
    return target


@dataclass
class FakeGpu:
    """One fake GPU; `error` != 0 makes every NVML call on it fail with that NVML error code."""

    uuid: str
    name: str = "NVIDIA A100-SXM4-80GB"
    total_mib: int = 81920
    used_mib: int = 0
    utilization: int = 0
    temperature_c: int = 40
    power_mw: int = 60000
    sm_clock_mhz: int = 1410
    mem_clock_mhz: int = 1593
    ecc_double_bit: int = 0
    compute_capability: tuple[int, int] = (8, 0)
    mig: bool = False
    error: int = 0


@dataclass
class FakeNvmlState:
    """Everything the fake library reports; `write` publishes it atomically."""

    path: Path
    gpus: list[FakeGpu] = field(default_factory=list)
    processes: list[tuple[int, int, int]] = field(default_factory=list)
    """(gpu index, pid, used MiB)"""
    xids: list[tuple[int, int]] = field(default_factory=list)
    """(gpu index, XID) in the order they happen; each is delivered once."""
    init_error: int = 0

    def write(self) -> None:
        lines = [f"initerror {self.init_error}"] if self.init_error else []
        for g in self.gpus:
            major, minor = g.compute_capability
            fields = [g.uuid, g.name, g.total_mib, g.used_mib, g.utilization, g.temperature_c,
                      g.power_mw, g.sm_clock_mhz, g.mem_clock_mhz, g.ecc_double_bit, major, minor,
                      int(g.mig), g.error]
            lines.append("gpu " + "|".join(str(f) for f in fields))
        lines += [f"proc {gpu}|{pid}|{mib}" for gpu, pid, mib in self.processes]
        lines += [f"xid {seq}|{gpu}|{xid}" for seq, (gpu, xid) in enumerate(self.xids)]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".fake-nvml-")
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)  # a new inode: the library sees the change on its next call


def fake_gpus(count: int, *, name: str = "NVIDIA A100-SXM4-80GB", total_mib: int = 81920) -> list[
    FakeGpu
]:
    """`count` healthy fake GPUs with stable UUIDs."""
    return [
        FakeGpu(uuid=f"GPU-fake0000-0000-0000-0000-{i:012d}", name=name, total_mib=total_mib)
        for i in range(count)
    ]
