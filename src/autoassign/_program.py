"""Logic written once, run over sync or async ports.

A *program* is a generator that yields :class:`Call`\\ s (a port's method and its
arguments) and receives each call's result (or has its exception thrown in at the
``yield``), then returns its answer. :func:`run` drives it over synchronous ports, as
the sync core always did; :func:`arun` drives the same generator over asynchronous ones
(``autoassign.aio``), so a rule such as "a save that frees capacity requests a pass" has
one home whatever the host's I/O model.

A step reads like a call, its result annotated::

    inbox: Inbox | None = yield from call("directory", "inbox", inbox_id)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Generator, Mapping
from typing import Any, TypeVar

__all__ = ["Call", "Program", "arun", "call", "run"]

T = TypeVar("T")

Program = Generator["Call", Any, T]
"""A generator of :class:`Call` returning ``T``."""


class Call:
    """One port call a program asks for: ``ports[port].method(*args, **kwargs)``."""

    __slots__ = ("args", "kwargs", "method", "port")

    def __init__(
        self, port: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.port = port
        self.method = method
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"Call({self.port}.{self.method}{self.args!r})"


def call(
    port: str, method: str, *args: Any, **kwargs: Any
) -> Generator[Call, Any, Any]:
    """Yield one :class:`Call` and return its result (annotate the variable it is
    assigned to: the result is whatever the port returns)."""
    return (yield Call(port, method, args, kwargs))


def run(program: Program[T], ports: Mapping[str, object]) -> T:
    """Drive ``program`` over synchronous ``ports`` (name -> object)."""
    try:
        step = next(program)
        while True:
            try:
                method = getattr(ports[step.port], step.method)
                result = method(*step.args, **step.kwargs)
            except Exception as exc:  # into the program, which may handle it
                step = program.throw(exc)
            else:
                step = program.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(program: Program[T], ports: Mapping[str, object]) -> T:
    """Drive ``program`` over ``ports`` from an event loop: a coroutine method is
    awaited; a plain (blocking) one runs in a worker thread (``asyncio.to_thread``), so
    a sync adapter (a SQL directory, say) never blocks the loop."""
    try:
        step = next(program)
        while True:
            try:
                method = getattr(ports[step.port], step.method)
                if inspect.iscoroutinefunction(method):
                    result = await method(*step.args, **step.kwargs)
                else:
                    result = await asyncio.to_thread(method, *step.args, **step.kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            except Exception as exc:
                step = program.throw(exc)
            else:
                step = program.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
