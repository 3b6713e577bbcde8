"""Wake-ups: in-process, across processes through Redis, and nothing breaks when Redis is gone."""

from __future__ import annotations

import asyncio
import uuid

from scheduler.service.wakeup import Wakeup
from tests.support.services import REDIS, require_redis


def test_notify_sets_the_local_event() -> None:
    async def scenario() -> None:
        wakeup = Wakeup()
        event = wakeup.bind(asyncio.get_running_loop())
        await asyncio.to_thread(wakeup.notify)  # from a worker thread, as routes do
        await asyncio.wait_for(event.wait(), timeout=2)

    asyncio.run(scenario())


def test_a_wake_up_crosses_processes_through_redis() -> None:
    require_redis(REDIS)
    channel = f"gpusched-test:{uuid.uuid4().hex}"

    async def scenario() -> None:
        listener = Wakeup(REDIS, channel=channel)
        event = listener.bind(asyncio.get_running_loop())
        task = asyncio.create_task(listener.listen_redis())
        try:
            sender = Wakeup(REDIS, channel=channel)
            for _ in range(50):  # until the subscription is in place
                await asyncio.to_thread(sender.notify)
                try:
                    await asyncio.wait_for(event.wait(), timeout=0.1)
                    return
                except TimeoutError:
                    continue
            raise AssertionError("no wake-up arrived through Redis")
        finally:
            task.cancel()

    asyncio.run(scenario())


def test_a_dead_redis_only_costs_the_prompt_wake_up() -> None:
    wakeup = Wakeup("redis://127.0.0.1:1/0")
    wakeup.notify()  # logs a warning, raises nothing
    assert wakeup.pending.is_set()
