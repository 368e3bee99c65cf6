"""Run the shipped (sync) contract suites on async adapters: :class:`EventLoopThread`
runs one event loop in a background thread, and :meth:`EventLoopThread.blocking` wraps
an async adapter so each coroutine method becomes a plain call that waits for it there
(as do the methods of what it returns, a held lease say), and a method returning an
async iterator returns a sync iterator over it. Threads a suite starts may
call at once: every call goes to the one loop, as it would in an async host.

    with EventLoopThread() as loop:
        lease = loop.blocking(AsyncRedisInboxLease(redis.asyncio.Redis()))
        assert lease.acquire(1, ttl=timedelta(seconds=5)) is not None
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["EventLoopThread"]

T = TypeVar("T")


class EventLoopThread:
    """An event loop running in a daemon thread until :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="autoassign-test-loop", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = 30) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or its exception)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def blocking(self, target: Any) -> Any:
        """``target`` with each coroutine method callable as a plain method."""
        return _Blocking(self, target)

    def close(self) -> None:
        """Stop the loop and its thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> EventLoopThread:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _has_coroutines(value: object) -> bool:
    return any(
        inspect.iscoroutinefunction(getattr(type(value), name, None))
        for name in dir(type(value))
        if not name.startswith("__")
    )


class _Blocking:
    __slots__ = ("_loop", "_target")

    def __init__(self, loop: EventLoopThread, target: Any) -> None:
        self._loop = loop
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        loop = self._loop
        if inspect.iscoroutinefunction(attribute):

            def call(*args: Any, **kwargs: Any) -> Any:
                result = loop.run(attribute(*args, **kwargs))
                if result is not None and _has_coroutines(result):
                    return _Blocking(loop, result)
                return result

            return call
        if not callable(attribute):
            return attribute

        def plain(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if isinstance(result, AsyncIterator):
                return _iterate(loop, result)
            return result

        return plain


def _iterate(loop: EventLoopThread, iterator: AsyncIterator[T]) -> Iterator[T]:
    """An async iterator as a sync one, each step awaited on ``loop``."""

    async def step() -> T:
        return await anext(iterator)

    while True:
        try:
            item = loop.run(step())
        except StopAsyncIteration:
            return
        yield item
