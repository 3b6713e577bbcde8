"""Fixtures: the fake NVML library (compiled once with gcc) and its per-test state file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.testing.fake_nvml import STATE_ENV, FakeNvmlState, build_library, fake_gpus


@pytest.fixture(scope="session")
def fake_nvml_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library(tmp_path_factory.mktemp("fake-nvml"))


@pytest.fixture
def nvml_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNvmlState:
    """Two healthy fake A100s; the test edits and `write()`s the state to change what NVML says."""
    state = FakeNvmlState(path=tmp_path / "nvml-state", gpus=fake_gpus(2))
    state.write()
    monkeypatch.setenv(STATE_ENV, str(state.path))
    return state


@pytest.fixture
def nvml_source(fake_nvml_library: Path, nvml_state: FakeNvmlState) -> Iterator[object]:
    from agent.nvml import NvmlSource

    source = NvmlSource(library_path=str(fake_nvml_library), rescan_seconds=3600)
    yield source
    source.close()
