"""Known GPU models: the names the scheduler accepts and the memory each carries."""

from __future__ import annotations

GPU_MEMORY_MIB: dict[str, int] = {
    # Alibaba trace codes (G1–G3 are undisclosed internal models; memory unknown → 0).
    "G1": 0,
    "G2": 0,
    "G3": 0,
    "T4": 15360,
    "P100": 16384,
    "V100M16": 16384,
    "V100M32": 32768,
    "A10": 24576,
    # Current data-centre parts, as `--simulate-gpus` and NVML name them (short form).
    "V100-16GB": 16384,
    "V100-32GB": 32768,
    "A30": 24576,
    "A40": 46068,
    "A100-40GB": 40960,
    "A100-80GB": 81920,
    "A100": 81920,
    "H100-80GB": 81559,
    "H100": 81559,
    "H200": 143771,
    "H200-141GB": 143771,
    "L4": 23034,
    "L40": 46068,
    "L40S": 46068,
    "B200": 183359,
}


def is_known_model(model: str) -> bool:
    """True for a model in the catalogue (exact name, case-insensitive)."""
    return model.upper() in _UPPER


def memory_of(model: str) -> int:
    """Memory in MiB of a known model; raises KeyError naming the known models otherwise."""
    try:
        return _UPPER[model.upper()]
    except KeyError:
        known = ", ".join(sorted(GPU_MEMORY_MIB))
        raise KeyError(f"unknown GPU model {model!r}; known models: {known}") from None


_UPPER = {name.upper(): mem for name, mem in GPU_MEMORY_MIB.items()}
