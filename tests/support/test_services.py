"""A missing PostgreSQL, Redis or tool skips a test on a laptop and fails it in CI (CI=true)."""

from __future__ import annotations

import pytest

from tests.support.services import require_module, require_redis, unavailable

DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_outside_ci_a_missing_service_skips_and_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL at 127\.0\.0\.1:5432"):
        unavailable("PostgreSQL at 127.0.0.1:5432 is not reachable")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_in_ci_a_missing_service_fails_and_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"Redis at redis://127\.0\.0\.1:1/0 .*CI=true"):
        require_redis(DEAD_REDIS)
    with pytest.raises(pytest.fail.Exception, match="no_such_module_here is not installed"):
        require_module("no_such_module_here")


def test_ci_false_still_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_redis(DEAD_REDIS)
