"""During a storm of wake-ups, long cycles are spaced out so that they leave the CPU to the API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from pathlib import Path

import pytest

from scheduler.metrics import ServiceMetrics
from scheduler.service.loop import CycleReport, SchedulerLoop, cycle_spacing
from scheduler.service.settings import Settings
from scheduler.service.wakeup import Wakeup
from scheduler.store.db import make_engine, session_factory, upgrade


def test_spacing_is_the_minimum_interval_for_short_cycles_and_grows_with_long_ones() -> None:
    settings = Settings(min_cycle_interval_seconds=0.5, max_cycle_share=0.25)
    assert cycle_spacing(settings, 0.01) == 0.5
    assert cycle_spacing(settings, 0.8) == pytest.approx(3.2)  # 0.8 s busy of every 3.2 s: 25 %
    back_to_back = Settings(min_cycle_interval_seconds=0.0, max_cycle_share=1.0)
    assert cycle_spacing(back_to_back, 0.8) == pytest.approx(0.8)


def test_a_loop_woken_without_pause_keeps_its_share(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gpusched.db'}")
    upgrade(engine)
    settings = Settings(
        home=tmp_path,
        min_cycle_interval_seconds=0.0,
        wake_debounce_seconds=0.0,
        max_cycle_share=0.25,
        cycle_period_seconds=0.05,
    )
    wakeup = Wakeup()
    loop = SchedulerLoop(
        sessions=session_factory(engine), settings=settings, wakeup=wakeup, metrics=ServiceMetrics()
    )
    starts: list[float] = []

    def slow_cycle(now: float | None = None) -> CycleReport:
        starts.append(time.monotonic())
        time.sleep(0.1)  # a cycle of 0.1 s: the next may start 0.4 s after this one began
        return CycleReport(leader=True)

    loop.run_once = slow_cycle  # type: ignore[method-assign]

    async def storm() -> None:
        task = asyncio.create_task(loop.run_forever())
        deadline = time.monotonic() + 1.3
        while time.monotonic() < deadline:
            wakeup.notify()  # a submit every 10 ms, and the period is only 50 ms
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(storm())
    engine.dispose()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 2 <= len(starts) <= 4, starts  # back to back it would be about 12 cycles
    assert min(gaps) >= 0.39
