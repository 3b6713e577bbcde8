"""During a storm of wake-ups, long cycles are spaced out so that they leave the CPU to the API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

import pytest

from scheduler.metrics import ServiceMetrics
from scheduler.service.build import standalone_loop
from scheduler.service.loop import CycleReport, cycle_spacing
from scheduler.service.wakeup import Wakeup
from scheduler.settings import Settings
from scheduler.store.db import make_engine, session_factory, upgrade

CYCLE_SECONDS = 0.1


def test_spacing_is_the_minimum_interval_for_short_cycles_and_grows_with_long_ones() -> None:
    settings = Settings(min_cycle_interval_seconds=0.5, max_cycle_share=0.25)
    assert cycle_spacing(settings, 0.01) == 0.5
    assert cycle_spacing(settings, 0.8) == pytest.approx(3.2)  # 0.8 s busy of every 3.2 s: 25 %
    back_to_back = Settings(min_cycle_interval_seconds=0.0, max_cycle_share=1.0)
    assert cycle_spacing(back_to_back, 0.8) == pytest.approx(0.8)


class StepClock:
    """Time that passes only when the loop sleeps or waits, or when a fake cycle takes some."""

    def __init__(self, *, cycles: int) -> None:
        self.now = 0.0
        self.starts: list[float] = []
        self._cycles = cycles

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        if len(self.starts) >= self._cycles:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # stop the loop as its service's shutdown would
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        await asyncio.sleep(0)  # a notify from the cycle's thread lands through call_soon
        if event.is_set():
            return True
        self.now += timeout
        return False


def _starts(tmp_path: Path, settings: Settings, *, storm: bool, cycles: int = 8) -> list[float]:
    """When each of `cycles` cycles of CYCLE_SECONDS began, on the injected clock."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gpusched.db'}")
    upgrade(engine)
    clock = StepClock(cycles=cycles)
    wakeup = Wakeup()
    loop = standalone_loop(
        sessions=session_factory(engine),
        settings=settings,
        wakeup=wakeup,
        metrics=ServiceMetrics(),
        clock=clock,
    )

    def fake_cycle(now: float | None = None) -> CycleReport:
        clock.starts.append(clock.now)
        clock.now += CYCLE_SECONDS
        if storm:
            wakeup.notify()  # submits keep arriving while every cycle runs
        return CycleReport(leader=True)

    loop.run_once = fake_cycle  # type: ignore[method-assign]

    async def run() -> None:
        task = asyncio.create_task(loop.run_forever())
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    engine.dispose()
    assert len(clock.starts) == cycles
    return clock.starts


def _gaps(starts: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in itertools.pairwise(starts)]


def _settings(tmp_path: Path, *, share: float, debounce: float = 0.0, period: float = 0.05) -> Settings:
    return Settings(
        home=tmp_path,
        min_cycle_interval_seconds=0.0,
        wake_debounce_seconds=debounce,
        max_cycle_share=share,
        cycle_period_seconds=period,
    )


def test_a_loop_woken_without_pause_keeps_its_share(tmp_path: Path) -> None:
    starts = _starts(tmp_path, _settings(tmp_path, share=0.25), storm=True)
    # 0.1 s busy may be at most 25 % of the time: one start every 0.1 / 0.25 = 0.4 s.
    assert _gaps(starts) == [0.4] * 7


def test_with_the_whole_share_a_storm_runs_cycles_back_to_back(tmp_path: Path) -> None:
    starts = _starts(tmp_path, _settings(tmp_path, share=1.0), storm=True)
    assert _gaps(starts) == [CYCLE_SECONDS] * 7


def test_a_wake_up_is_debounced_but_never_beats_the_spacing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, share=0.25, debounce=0.5, period=10.0)
    # Woken at once after each cycle of 0.1 s: the 0.5 s debounce is longer than the 0.3 s
    # still owed to the spacing, so cycles start 0.1 + 0.5 = 0.6 s apart.
    assert _gaps(_starts(tmp_path, settings, storm=True)) == [0.6] * 7


def test_a_quiet_loop_cycles_once_per_period(tmp_path: Path) -> None:
    settings = _settings(tmp_path, share=0.25, period=2.0)
    # No wake-up: the loop waits the whole period after each cycle (0.1 s + 2 s).
    assert _gaps(_starts(tmp_path, settings, storm=False, cycles=4)) == [2.1] * 3
