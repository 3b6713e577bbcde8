"""The `cluster` fixtures: real processes under tmp_path, all of them killed at teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster
from tests.support.scratch import scratch_postgres


@contextlib.contextmanager
def _cluster(root: Path, *, db: str = "") -> Iterator[Cluster]:
    made = Cluster(root, db=db)
    try:
        yield made
    finally:
        survivors = made.close()
        assert not survivors, f"processes outlived the teardown: {survivors}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster on SQLite in its GPUSCHED_HOME, with shortened timings; nothing started yet."""
    with _cluster(tmp_path) as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """The same on each database: PostgreSQL is a fresh database on 127.0.0.1:5432 (it must be
    there: a missing server fails the test rather than skipping it)."""
    if request.param == "sqlite":
        with _cluster(tmp_path) as made:
            yield made
        return
    with scratch_postgres("gpusched_faults") as url, _cluster(tmp_path, db=url) as made:
        yield made
