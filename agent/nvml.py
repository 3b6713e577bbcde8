"""GPU facts from the NVIDIA driver through the real `pynvml` bindings (package nvidia-ml-py)."""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from typing import Any

import pynvml

from agent.devices import GpuProcess, GpuSample, judge_health
from scheduler.core.gpu_catalog import is_known_model
from scheduler.protocol import GpuSpec

log = logging.getLogger(__name__)
_MIB = 1024 * 1024
_MAX_EVENTS_PER_SAMPLE = 64
_RECENT_XIDS = 16
_RESCAN_AFTER_ERROR_SECONDS = 5.0


def short_model_name(nvml_name: str, memory_mib: int) -> str:
    """The catalogue's short name for an NVML name ("NVIDIA H100 80GB HBM3" → "H100-80GB")."""
    name = nvml_name.strip()
    for prefix in ("NVIDIA ", "Tesla "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    family = name.replace("-", " ").split()[0] if name else name
    with_memory = f"{family}-{round(memory_mib / 1024)}GB"
    if is_known_model(with_memory):
        return with_memory
    return family if is_known_model(family) else name


def load_library(path: str) -> None:
    """Make pynvml use the NVML library at `path` instead of searching for libnvidia-ml.so.1."""
    # pynvml dlopens the library only when its module-level handle is unset, so setting the
    # handle first is its supported way to pick a library (used for tests and odd installs).
    if pynvml.nvmlLib is None:
        pynvml.nvmlLib = ctypes.CDLL(path)


class NvmlError(RuntimeError):
    """NVML could not be started at all (no driver, no library)."""


class NvmlSource:
    """Inventory and samples of the local GPUs; a GPU NVML cannot read is reported unhealthy."""

    enforcement_capable = True

    def __init__(
        self,
        *,
        library_path: str | None = None,
        rescan_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if library_path:
            load_library(library_path)
        self._rescan_seconds = rescan_seconds
        self._clock = clock
        self._started = False
        self._handles: list[Any] = []
        self._gpus: list[GpuSpec] = []
        self._events: Any = None
        self._xids: dict[str, list[int]] = {}
        self._scanned_at = 0.0
        self.driver_version = ""
        self._rescan()

    # -- lifecycle -------------------------------------------------------------------------
    def _rescan(self) -> None:
        """(Re)start NVML and enumerate the devices; XID history per UUID survives."""
        self.close()
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlError(f"cannot initialise NVML: {exc}") from exc
        self._started = True
        self._scanned_at = self._clock()
        try:
            self.driver_version = _text(pynvml.nvmlSystemGetDriverVersion())
        except pynvml.NVMLError:
            self.driver_version = ""
        known = {gpu.index: gpu for gpu in self._gpus}
        handles: list[Any] = []
        gpus: list[GpuSpec] = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle: Any = None
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                gpus.append(self._describe(index, handle))
                handles.append(handle)
            except pynvml.NVMLError as exc:
                if handle is not None and index in known:
                    # Keep a GPU we knew: its samples then say it is unhealthy and why.
                    gpus.append(known[index])
                    handles.append(handle)
                else:
                    log.warning("GPU %d is unreadable, left out of the inventory: %s", index, exc)
        self._handles, self._gpus = handles, gpus
        self._events = self._register_xid_events(handles)

    @staticmethod
    def _describe(index: int, handle: Any) -> GpuSpec:
        memory_mib = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // _MIB
        try:
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            capability = f"{major}.{minor}"
        except pynvml.NVMLError:
            capability = ""
        try:
            mig = pynvml.nvmlDeviceGetMigMode(handle)[0] == pynvml.NVML_DEVICE_MIG_ENABLE
        except pynvml.NVMLError:
            mig = False  # not a MIG-capable part
        return GpuSpec(
            index=index,
            uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
            model=short_model_name(_text(pynvml.nvmlDeviceGetName(handle)), memory_mib),
            memory_mib=memory_mib,
            compute_capability=capability,
            mig_mode=mig,
        )

    @staticmethod
    def _register_xid_events(handles: list[Any]) -> Any:
        try:
            events = pynvml.nvmlEventSetCreate()
        except pynvml.NVMLError as exc:
            log.warning("XID events unavailable: %s", exc)
            return None
        for handle in handles:
            try:
                pynvml.nvmlDeviceRegisterEvents(
                    handle, pynvml.nvmlEventTypeXidCriticalError, events
                )
            except pynvml.NVMLError as exc:  # e.g. not supported on this GPU
                log.info("no XID events for a GPU: %s", exc)
        return events

    def close(self) -> None:
        if not self._started:
            return
        try:
            if self._events is not None:
                pynvml.nvmlEventSetFree(self._events)
            pynvml.nvmlShutdown()
        except pynvml.NVMLError as exc:
            log.warning("NVML shutdown: %s", exc)
        self._events = None
        self._started = False

    # -- reading -------------------------------------------------------------------------
    def inventory(self) -> list[GpuSpec]:
        return list(self._gpus)

    def sample(self) -> list[GpuSample]:
        if self._rescan_due():
            try:
                self._rescan()
            except NvmlError as exc:
                # The driver went away under us: every GPU we knew is now unreadable.
                return [self._unreadable(gpu, str(exc)) for gpu in self._gpus]
        self._drain_xid_events()
        pairs = zip(self._gpus, self._handles, strict=True)
        samples = [self._read(gpu, handle) for gpu, handle in pairs]
        if any(not s.healthy and s.health_reason.startswith("NVML") for s in samples):
            # An unreadable GPU may have been removed or reset: look again soon.
            soon = self._clock() - self._rescan_seconds + _RESCAN_AFTER_ERROR_SECONDS
            self._scanned_at = min(self._scanned_at, soon)
        return samples

    def _unreadable(self, gpu: GpuSpec, error: str) -> GpuSample:
        healthy, reason = judge_health(ecc_double_bit=0, xids=[], read_error=error)
        return GpuSample(index=gpu.index, uuid=gpu.uuid, healthy=healthy, health_reason=reason,
                         xid_errors=list(self._xids.get(gpu.uuid, [])))

    def _rescan_due(self) -> bool:
        if not self._started or self._clock() - self._scanned_at >= self._rescan_seconds:
            return True
        try:
            return bool(pynvml.nvmlDeviceGetCount() != len(self._gpus))
        except pynvml.NVMLError:
            return True

    def _drain_xid_events(self) -> None:
        if self._events is None:
            return
        by_address = {_address(h): g.uuid for g, h in zip(self._gpus, self._handles, strict=True)}
        for _ in range(_MAX_EVENTS_PER_SAMPLE):
            try:
                data = pynvml.nvmlEventSetWait(self._events, 0)
            except pynvml.NVMLError_Timeout:
                return
            except pynvml.NVMLError as exc:
                log.warning("reading XID events failed: %s", exc)
                return
            uuid = by_address.get(_address(data.device))
            if uuid is not None:
                seen = self._xids.setdefault(uuid, [])
                seen.append(int(data.eventData))
                del seen[:-_RECENT_XIDS]

    def _read(self, gpu: GpuSpec, handle: Any) -> GpuSample:
        xids = list(self._xids.get(gpu.uuid, []))
        sample = GpuSample(index=gpu.index, uuid=gpu.uuid, xid_errors=xids)
        try:
            util = _optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
            sample.utilization = float(util.gpu) if util is not None else None
            sample.memory_used_mib = int(pynvml.nvmlDeviceGetMemoryInfo(handle).used) // _MIB
            sample.temperature_c = _optional(
                pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU
            )
            milliwatts = _optional(pynvml.nvmlDeviceGetPowerUsage, handle)
            sample.power_w = milliwatts / 1000.0 if milliwatts is not None else None
            sample.sm_clock_mhz = _optional(
                pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM
            )
            sample.mem_clock_mhz = _optional(
                pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM
            )
            ecc = _optional(
                pynvml.nvmlDeviceGetTotalEccErrors,
                handle,
                pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                pynvml.NVML_VOLATILE_ECC,
            )
            sample.ecc_double_bit = int(ecc or 0)
            procs = _optional(pynvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
            sample.processes = [
                GpuProcess(pid=int(p.pid), memory_mib=int(p.usedGpuMemory or 0) // _MIB)
                for p in procs
            ]
            error = ""
        except pynvml.NVMLError as exc:
            error = str(exc)
        sample.healthy, sample.health_reason = judge_health(
            ecc_double_bit=sample.ecc_double_bit, xids=xids, read_error=error
        )
        return sample


def _optional(fn: Callable[..., Any], *args: Any) -> Any:
    """Call an NVML query; a feature this GPU lacks gives None instead of an error."""
    try:
        return fn(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NoPermission):
        return None


def _address(handle: Any) -> int:
    return int(ctypes.cast(handle, ctypes.c_void_p).value or 0)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
