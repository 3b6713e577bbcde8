"""`--simulate-gpus NODESxGPUSxMODEL[-MEMORY]`: simulated GPUs that feed the same agent code."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass

from agent.devices import GpuSample
from scheduler.core.gpu_catalog import GPU_MEMORY_MIB, is_known_model, memory_of
from scheduler.protocol import GpuSpec

_SPEC = re.compile(r"^(\d+)x(\d+)x(.+)$", re.IGNORECASE)
_MEMORY_SUFFIX = re.compile(r"^(.+?)-(\d+)(GB|G|GIB)$", re.IGNORECASE)
_UUID_NAMESPACE = uuid.UUID("6a1f7a52-2f0e-4d43-9a57-3b0f5c1e9d10")
MAX_NODES = 1000
MAX_GPUS_PER_NODE = 64


@dataclass(frozen=True, slots=True)
class SimulateSpec:
    """What `--simulate-gpus` asked for: NODES nodes of GPUS GPUs of one model."""

    nodes: int
    gpus_per_node: int
    model: str
    memory_mib: int


def parse_simulate_spec(text: str) -> SimulateSpec:
    """Parse "2x8xA100-80GB" or "1x1xT4"; raises ValueError saying what is wrong and the form."""
    form = "expected NODESxGPUSxMODEL[-MEMORY], e.g. 2x8xA100-80GB, 1x1xT4 or 1x4xRTX4090-24GB"
    match = _SPEC.match(text.strip())
    if not match:
        raise ValueError(f"bad --simulate-gpus {text!r}: {form}")
    nodes, gpus, model = int(match[1]), int(match[2]), match[3]
    if not 1 <= nodes <= MAX_NODES:
        raise ValueError(f"bad --simulate-gpus {text!r}: NODES must be 1..{MAX_NODES}")
    if not 1 <= gpus <= MAX_GPUS_PER_NODE:
        raise ValueError(f"bad --simulate-gpus {text!r}: GPUS must be 1..{MAX_GPUS_PER_NODE}")
    if is_known_model(model) and memory_of(model) > 0:
        return SimulateSpec(nodes, gpus, _canonical(model), memory_of(model))
    suffix = _MEMORY_SUFFIX.match(model)
    if suffix and int(suffix[2]) > 0:
        return SimulateSpec(nodes, gpus, model, int(suffix[2]) * 1024)
    if is_known_model(model):
        raise ValueError(
            f"bad --simulate-gpus {text!r}: the memory of {model} is not published; "
            f"give it, e.g. {nodes}x{gpus}x{model}-16GB"
        )
    raise ValueError(
        f"bad --simulate-gpus {text!r}: unknown GPU model {model!r}; use a known model "
        f"(A100-80GB, H100, T4, L4 ...) or give the memory, e.g. {nodes}x{gpus}x{model}-24GB"
    )


def _canonical(model: str) -> str:
    return next(name for name in GPU_MEMORY_MIB if name.upper() == model.upper())


class SimulatedSource:
    """GPUs that exist only on paper; utilisation and memory follow the replicas placed on them."""

    enforcement_capable = False

    def __init__(self, *, node_name: str, spec: SimulateSpec, seed: int = 0) -> None:
        self._gpus = [
            GpuSpec(
                index=i,
                uuid="GPU-" + str(uuid.uuid5(_UUID_NAMESPACE, f"{node_name}/{i}")),
                model=spec.model,
                memory_mib=spec.memory_mib,
                compute_capability="8.0",
            )
            for i in range(spec.gpus_per_node)
        ]
        self._load_milli: dict[str, int] = {}
        self._random = random.Random(f"{node_name}/{seed}")

    def set_load(self, milli_by_uuid: dict[str, int]) -> None:
        """Tell the simulation how much of each GPU running replicas hold (1000 = one GPU)."""
        self._load_milli = dict(milli_by_uuid)

    def inventory(self) -> list[GpuSpec]:
        return list(self._gpus)

    def sample(self) -> list[GpuSample]:
        samples = []
        for gpu in self._gpus:
            load = min(self._load_milli.get(gpu.uuid, 0), 1000) / 1000
            jitter = self._random.uniform(-3.0, 3.0) if load else 0.0
            utilization = round(max(0.0, min(100.0, load * 95 + jitter)), 1)
            samples.append(
                GpuSample(
                    index=gpu.index,
                    uuid=gpu.uuid,
                    utilization=utilization,
                    memory_used_mib=int(gpu.memory_mib * load * 0.6),
                    temperature_c=int(32 + utilization * 0.4),
                    power_w=round(55 + utilization * 3.0, 1),
                    sm_clock_mhz=1410 if load else 210,
                    mem_clock_mhz=1593,
                )
            )
        return samples

    def close(self) -> None:
        return None
