"""The installed `gpusched` entry point carries the client commands."""

from __future__ import annotations

import os
import subprocess
import sys

ENTRY = "from scheduler.cli.main import main; main()"


def run_gpusched(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **env},
        stdin=subprocess.DEVNULL,
    )


def test_help_lists_the_client_commands():
    result = run_gpusched("--help")

    assert result.returncode == 0, result.stderr
    for command in ("submit", "jobs", "job", "cancel", "explain", "logs", "queues", "nodes", "top"):
        assert f" {command} " in result.stdout, command


def test_server_down_through_the_real_entry_point_is_one_line_and_exit_1(dead_url, tmp_path):
    result = run_gpusched("jobs", GPUSCHED_URL=dead_url, GPUSCHED_HOME=str(tmp_path))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: cannot reach gpusched at {dead_url}")
    assert "Traceback" not in result.stderr
