"""The loop's sense of time, injectable: a monotonic reading, a sleep, a wait for a wake-up."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class LoopClock(Protocol):
    """What the scheduling loop asks of time while it spaces its cycles."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` on this clock."""
        ...

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """True as soon as `event` is set; False once `timeout` seconds pass without it."""
        ...


class SystemClock:
    """The real clock: time.monotonic and asyncio's sleeps."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        try:
            # Not wait_for: on Python 3.11 it can swallow a cancel that lands as the event
            # fires, and the loop then never stops (a hung shutdown).
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True
