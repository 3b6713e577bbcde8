"""The `cluster` fixture: real processes under tmp_path, all of them killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster on SQLite with shortened timings; nothing started yet."""
    made = Cluster(tmp_path)
    yield made
    survivors = made.close()
    assert not survivors, f"processes outlived the teardown: {survivors}"
