"""Wake-ups for the loop: an asyncio.Event in this process, Redis pub/sub across processes.

Losing Redis loses only the prompt wake-up: the loop still runs every period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from scheduler.service.redis_link import RedisLink

log = logging.getLogger(__name__)
CHANNEL = "gpusched:wake"


class Wakeup:
    """A thread-safe 'something changed' signal the loop awaits."""

    def __init__(
        self,
        redis_url: str = "",
        *,
        channel: str = CHANNEL,
        on_wake: Callable[[], None] | None = None,
    ) -> None:
        self._on_wake = on_wake
        """Also called on every wake-up, local or from Redis (e.g. to drop a cache)."""
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis_url = redis_url
        self._link = RedisLink(redis_url, prefix="") if redis_url else None
        self.channel = channel
        self._lock = threading.Lock()
        self._publish_wanted = threading.Event()
        self._publisher: threading.Thread | None = None
        self.pending = threading.Event()
        """Set by notify(); lets synchronous callers (tests, benchmarks) see a wake happened."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """Attach to the running event loop; returns the event the scheduling loop awaits."""
        self._loop = loop
        self._event = asyncio.Event()
        return self._event

    def notify(self) -> None:
        """Wake the loop here, and every scheduler listening on Redis (best effort).

        The Redis message is sent by a background thread, so the caller (a request that has
        just committed) does not wait for Redis; notifies that arrive while one is being sent
        are folded into one more message after it.
        """
        self.local()
        if self._redis_url:
            self._publish_wanted.set()
            with self._lock:
                if self._publisher is None:
                    self._publisher = threading.Thread(
                        target=self._publish_forever, name="wakeup-publisher", daemon=True
                    )
                    self._publisher.start()

    def _publish_forever(self) -> None:
        while True:
            self._publish_wanted.wait()
            self._publish_wanted.clear()
            self._publish()

    def local(self) -> None:
        """Wake this process's loop only (safe from any thread)."""
        self.pending.set()
        if self._on_wake is not None:
            self._on_wake()
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop shut down in between
                loop.call_soon_threadsafe(event.set)

    def _publish(self) -> None:
        # Best effort: a failure is logged by the link, and the period covers for the wake-up.
        if self._link is not None:
            self._link.publish(self.channel)

    async def listen_redis(self) -> None:
        """Forward Redis wake-ups to this process's loop until cancelled; reconnects on errors."""
        if not self._redis_url:
            return
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.Redis.from_url(self._redis_url)
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.local()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("Redis wake-up listener lost (%s); retrying in 5 s", error)
                await asyncio.sleep(5)
