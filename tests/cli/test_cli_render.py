"""The small formatting rules the tables rely on."""

from __future__ import annotations

import pytest

from scheduler.cli.client import detail_of, path_for, resolve_config
from scheduler.cli.render import age, bar, job_gpus, mib, number, queue_rows, when


@pytest.mark.parametrize(
    ("value", "shown"),
    [(2, "2"), (2.0, "2"), (0.5, "0.5"), (1.3333, "1.33"), (0.125, "0.12"), (None, "-"),
     (True, "True"), ("x", "x"), (float("nan"), "nan")],
)  # fmt: skip
def test_number(value, shown):
    assert number(value) == shown


def test_sizes_and_ages():
    assert mib(81920) == "80G"
    assert mib(1536) == "1.5G"
    assert mib(512) == "512M"
    assert mib(None) == "-"
    now = 1_000_000.0
    assert age(now - 45, now=now) == "45s"
    assert age(now - 3 * 3600 - 5, now=now) == "3h"
    assert age(now + 100, now=now) == "0s"  # clock skew never shows a negative age
    assert age("yesterday", now=now) == "-"
    assert when(now + 2 * 86400, now=now).endswith("(in 2d)")
    assert when(now - 90, now=now).endswith("(1m ago)")


def test_bar_clamps_the_fill_but_shows_the_real_percentage():
    assert bar(0.5, width=10).plain == "█████░░░░░  50%"
    assert bar(1.5, width=4).plain == "████ 150%"
    assert bar(None, width=4).plain.split() == ["-", "-"]


def test_job_gpus():
    assert job_gpus({"gpus": 0.5, "replicas": 1}) == "0.5"
    assert job_gpus({"gpus": 8, "replicas": 4}) == "4x8"
    assert job_gpus({"gpus": 0, "replicas": 1, "gpu_memory_mib": 20480}) == "0 (20G)"


def test_queue_rows_put_parents_first_and_keep_orphans():
    queues = [
        {"name": "b", "parent": "root"},
        {"name": "root", "parent": None},
        {"name": "a", "parent": "root"},
        {"name": "lost", "parent": "not-listed"},
    ]
    assert [(depth, q["name"]) for depth, q in queue_rows(queues)] == [
        (0, "lost"),
        (0, "root"),
        (1, "a"),
        (1, "b"),
    ]


def test_path_segments_are_quoted():
    assert path_for("jobs", "a/b?c") == "/v1/jobs/a%2Fb%3Fc"


def test_config_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUSCHED_HOME", str(tmp_path))
    monkeypatch.delenv("GPUSCHED_URL", raising=False)
    monkeypatch.delenv("GPUSCHED_TOKEN", raising=False)
    assert resolve_config().url == "http://127.0.0.1:8080"
    assert resolve_config().token is None
    (tmp_path / "admin-token").write_text("from-file\n")
    assert resolve_config().token == "from-file"
    monkeypatch.setenv("GPUSCHED_TOKEN", "from-env")
    monkeypatch.setenv("GPUSCHED_URL", "gpu-box:9000/")
    assert resolve_config().token == "from-env"
    assert resolve_config().url == "http://gpu-box:9000"
    flagged = resolve_config(url="https://x", token="from-flag")
    assert (flagged.url, flagged.token, flagged.token_source) == (
        "https://x",
        "from-flag",
        "--token",
    )


def test_detail_of_validation_errors_strips_the_location_prefix():
    import httpx

    response = httpx.Response(
        422,
        json={
            "detail": [
                {"loc": ["body", "env", "K"], "msg": "Input should be a valid string"},
                {"loc": ["query", "limit"], "msg": "Input should be less than 1000"},
                {"msg": "no location"},
            ]
        },
    )
    assert detail_of(response) == (
        "env.K: Input should be a valid string; limit: Input should be less than 1000; no location"
    )
