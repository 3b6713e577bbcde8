"""What a test needs from outside (PostgreSQL, Redis, a tool): a skip on a laptop, a failure in CI.

CI sets `CI=true`; a skip there would turn "this code never ran" into a green build.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest
import redis

REDIS = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    """Whether the environment says this is a CI run (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(what: str) -> NoReturn:
    """Skip the running test because `what` is missing; fail it instead when `in_ci()`."""
    if in_ci():
        pytest.fail(f"{what}; CI=true: a test that needs it fails instead of skipping", pytrace=False)
    pytest.skip(what)


def require_redis(url: str = REDIS) -> None:
    """Return if Redis answers at `url`; otherwise `unavailable` with what was tried."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {url} is not reachable: {error}")


def require_module(name: str) -> ModuleType:
    """The module `name`, or `unavailable` saying which package to install."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        unavailable(f"the module {name} is not installed ({error}); pip install -e '.[dev]'")


@pytest.fixture
def live_redis() -> str:
    """The URL of a Redis that answers; missing, the test skips (fails with CI=true)."""
    require_redis()
    return REDIS
