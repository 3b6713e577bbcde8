"""What the agent knows about GPUs: inventory, samples, health rules, and the device-source hook."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from scheduler.protocol import GpuSpec

# XIDs after which NVIDIA's XID catalogue says the GPU needs a reset or service, not a job restart:
# 48 double-bit ECC, 62 internal micro-controller halt, 64 ECC row-remap failure, 74 NVLink error,
# 79 GPU has fallen off the bus, 94/95 contained/uncontained ECC error, 119/120 GSP RPC timeout /
# GSP error, 140 unrecovered ECC. Application faults (13, 31, 43, 45 ...) are reported, not fatal.
CRITICAL_XIDS: frozenset[int] = frozenset({48, 62, 64, 74, 79, 94, 95, 119, 120, 140})


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A compute process NVML sees on a GPU (pid in the host's pid namespace)."""

    pid: int
    memory_mib: int


@dataclass(slots=True)
class GpuSample:
    """One reading of one GPU. A GPU that could not be read has healthy=False and a reason."""

    index: int
    uuid: str
    utilization: float | None = None
    memory_used_mib: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    ecc_double_bit: int = 0
    xid_errors: list[int] = field(default_factory=list)
    healthy: bool = True
    health_reason: str = ""
    processes: list[GpuProcess] = field(default_factory=list)


class DeviceSource(Protocol):
    """Where GPU facts come from (real NVML or simulated); everything else is shared."""

    enforcement_capable: bool
    """True when per-process GPU memory is real, so a watchdog can enforce grants."""

    def inventory(self) -> list[GpuSpec]:
        """The GPUs present now (re-read when devices appear or vanish)."""
        ...

    def sample(self) -> list[GpuSample]:
        """Read every GPU of the current inventory once."""
        ...

    def close(self) -> None:
        """Release the library or handles."""
        ...


def judge_health(*, ecc_double_bit: int, xids: list[int], read_error: str = "") -> tuple[bool, str]:
    """Apply the health rules: unreadable, critical XID or double-bit ECC → unhealthy, with why."""
    if read_error:
        return False, f"NVML cannot read the GPU: {read_error}"
    critical = sorted({x for x in xids if x in CRITICAL_XIDS})
    if critical:
        return False, "XID " + ", ".join(str(x) for x in critical)
    if ecc_double_bit > 0:
        return False, f"{ecc_double_bit} double-bit ECC errors"
    return True, ""


def sample_to_json(sample: GpuSample, processes: list[dict[str, Any]]) -> dict[str, Any]:
    """The protocol's telemetry entry for one GPU, with processes already attributed to replicas."""
    out = asdict(sample)
    out["processes"] = processes
    return out
