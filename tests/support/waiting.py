"""Waiting for an eventual outcome (a cluster state, a log line, a counter), with a message that says
what never happened. The interval is only how often the state is read: tests wait for a state,
never for a time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T], *, timeout: float = 30, interval: float = 0.2, what: str = "condition"
) -> T:
    """Call `check` until it returns something truthy and return that; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last value: {last!r})")
        time.sleep(interval)
        last = check()
    return last


async def wait_for_async(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 30,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """`wait_for` on an event loop: `check` may be a plain function or a coroutine function."""

    async def read() -> T:
        value = check()
        return await value if inspect.isawaitable(value) else value

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = await read()
    while not last:
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last value: {last!r})")
        await asyncio.sleep(interval)
        last = await read()
    return last
