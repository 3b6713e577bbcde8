"""The NVML device source against the fake libnvidia-ml.so.1, loaded by the real pynvml."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.nvml import NvmlError, NvmlSource, short_model_name
from agent.testing.fake_nvml import FakeGpu, FakeNvmlState

GPU_IS_LOST = 15
DRIVER_NOT_LOADED = 9


def test_inventory_reads_every_gpu(nvml_source: NvmlSource, nvml_state: FakeNvmlState) -> None:
    gpus = nvml_source.inventory()
    assert [g.uuid for g in gpus] == [g.uuid for g in nvml_state.gpus]
    first = gpus[0]
    assert (first.index, first.model, first.memory_mib) == (0, "A100-80GB", 81920)
    assert (first.compute_capability, first.mig_mode) == ("8.0", False)
    assert nvml_source.driver_version == "550.54.15"


def test_sample_reports_utilisation_memory_power_clocks_and_processes(
    nvml_source: NvmlSource, nvml_state: FakeNvmlState
) -> None:
    gpu = nvml_state.gpus[1]
    gpu.utilization, gpu.used_mib, gpu.temperature_c = 37, 1200, 41
    gpu.power_mw, gpu.sm_clock_mhz, gpu.mem_clock_mhz = 180500, 1410, 1593
    nvml_state.processes = [(1, 4242, 1100), (1, 4343, 100)]
    nvml_state.write()

    sample = nvml_source.sample()[1]

    assert (sample.utilization, sample.memory_used_mib, sample.temperature_c) == (37.0, 1200, 41)
    assert sample.power_w == 180.5  # NVML reports milliwatts
    assert (sample.sm_clock_mhz, sample.mem_clock_mhz) == (1410, 1593)
    assert [(p.pid, p.memory_mib) for p in sample.processes] == [(4242, 1100), (4343, 100)]
    assert sample.healthy and sample.health_reason == ""


def test_gpus_appearing_and_vanishing_change_the_inventory(
    nvml_source: NvmlSource, nvml_state: FakeNvmlState
) -> None:
    nvml_state.gpus.append(FakeGpu(uuid="GPU-new-one", name="NVIDIA H100 80GB HBM3",
                                   total_mib=81559, compute_capability=(9, 0)))
    nvml_state.write()
    assert len(nvml_source.sample()) == 3
    added = nvml_source.inventory()[2]
    assert (added.uuid, added.model) == ("GPU-new-one", "H100-80GB")
    assert added.compute_capability == "9.0"

    del nvml_state.gpus[0:2]
    nvml_state.write()
    assert [s.uuid for s in nvml_source.sample()] == ["GPU-new-one"]
    assert [g.uuid for g in nvml_source.inventory()] == ["GPU-new-one"]


def test_xid_79_marks_the_gpu_unhealthy_and_stays(
    nvml_source: NvmlSource, nvml_state: FakeNvmlState
) -> None:
    nvml_state.xids = [(0, 13), (1, 79)]  # 13 is an application fault: reported, not fatal
    nvml_state.write()

    first, second = nvml_source.sample()
    assert first.healthy and first.xid_errors == [13]
    assert not second.healthy and second.health_reason == "XID 79"
    # An XID is delivered once by NVML, but the GPU stays broken until someone repairs it.
    assert not nvml_source.sample()[1].healthy


def test_double_bit_ecc_errors_mark_the_gpu_unhealthy(
    nvml_source: NvmlSource, nvml_state: FakeNvmlState
) -> None:
    nvml_state.gpus[0].ecc_double_bit = 2
    nvml_state.write()
    sample = nvml_source.sample()[0]
    assert not sample.healthy and "double-bit ECC" in sample.health_reason
    assert sample.ecc_double_bit == 2


def test_a_gpu_nvml_cannot_read_is_unhealthy_and_kept(
    nvml_source: NvmlSource, nvml_state: FakeNvmlState
) -> None:
    nvml_state.gpus[1].error = GPU_IS_LOST
    nvml_state.write()

    samples = nvml_source.sample()
    assert samples[0].healthy
    assert not samples[1].healthy
    assert samples[1].health_reason == "NVML cannot read the GPU: GPU is lost"
    # A rescan keeps the GPU it knew in the inventory, so the scheduler hears it is broken.
    nvml_source._rescan()
    assert len(nvml_source.inventory()) == 2
    assert not nvml_source.sample()[1].healthy

    nvml_state.gpus[1].error = 0  # repaired (reset)
    nvml_state.write()
    assert nvml_source.sample()[1].healthy


def test_no_driver_is_a_clear_error(
    fake_nvml_library: Path, nvml_state: FakeNvmlState
) -> None:
    nvml_state.init_error = DRIVER_NOT_LOADED
    nvml_state.write()
    with pytest.raises(NvmlError, match="cannot initialise NVML: Driver Not Loaded"):
        NvmlSource(library_path=str(fake_nvml_library))


@pytest.mark.parametrize(
    ("nvml_name", "memory_mib", "model"),
    [
        ("NVIDIA H100 80GB HBM3", 81559, "H100-80GB"),
        ("NVIDIA A100-SXM4-40GB", 40960, "A100-40GB"),
        ("Tesla T4", 15360, "T4"),
        ("NVIDIA L40S", 46068, "L40S"),
        ("NVIDIA GeForce RTX 4090", 24564, "GeForce RTX 4090"),
    ],
)
def test_short_model_names_match_the_catalogue(nvml_name: str, memory_mib: int, model: str) -> None:
    assert short_model_name(nvml_name, memory_mib) == model


def test_losing_the_driver_reports_every_gpu_unhealthy_until_it_returns(
    fake_nvml_library: Path, nvml_state: FakeNvmlState
) -> None:
    source = NvmlSource(library_path=str(fake_nvml_library), rescan_seconds=0)
    try:
        nvml_state.init_error = DRIVER_NOT_LOADED
        nvml_state.write()
        samples = source.sample()
        assert len(samples) == 2 and not any(s.healthy for s in samples)
        assert "Driver Not Loaded" in samples[0].health_reason

        nvml_state.init_error = 0
        nvml_state.write()
        assert all(s.healthy for s in source.sample())
    finally:
        source.close()
