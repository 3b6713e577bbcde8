"""Settings that would let a lost node's jobs run twice are refused at load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduler.settings import Settings


def test_the_defaults_keep_the_node_timeout_beyond_fence_and_grace() -> None:
    settings = Settings()
    assert (settings.node_timeout_seconds, settings.fence_seconds, settings.grace_seconds) == (
        45.0, 10.0, 30.0
    )


@pytest.mark.parametrize(
    ("timeout", "fence", "grace"),
    # 10 + 30 + 3 = 43 ≥ 43 and 40; 1 + 5 + 3 = 9 ≥ 5
    [(43.0, 10.0, 30.0), (40.0, 10.0, 30.0), (30.0, 10.0, 30.0), (5.0, 1.0, 5.0)],
)
def test_a_node_timeout_within_fence_plus_grace_plus_slack_is_refused(
    monkeypatch: pytest.MonkeyPatch, timeout: float, fence: float, grace: float
) -> None:
    monkeypatch.setenv("GPUSCHED_NODE_TIMEOUT_SECONDS", str(timeout))
    monkeypatch.setenv("GPUSCHED_FENCE_SECONDS", str(fence))
    monkeypatch.setenv("GPUSCHED_GRACE_SECONDS", str(grace))
    with pytest.raises(ValidationError) as error:
        Settings()
    message = str(error.value)
    for name, value in (("NODE_TIMEOUT", timeout), ("FENCE", fence), ("GRACE", grace)):
        assert f"GPUSCHED_{name}_SECONDS ({value:g})" in message


def test_a_shorter_grace_allows_a_shorter_timeout() -> None:
    settings = Settings(node_timeout_seconds=11, fence_seconds=2, grace_seconds=5)  # 11 > 2+5+3
    assert settings.node_timeout_seconds == 11
