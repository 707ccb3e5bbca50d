"""A scripted OpenAI-compatible LLM server on loopback, an in-process fake model, and polling helpers,
for tests and benchmarks."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from oboto.testing.fake_model import FakeModel, ModelRequest
from oboto.testing.server import NO_SCRIPTED_REPLY, Reply, ScriptedLLM, ScriptedToolCall

T = TypeVar("T")

__all__ = [
    "NO_SCRIPTED_REPLY", "FakeModel", "ModelRequest", "Reply", "ScriptedLLM", "ScriptedToolCall", "async_wait_until",
    "wait_until",
]


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll `predicate` until it is truthy and return its value; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if value := predicate():
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition {_describe(predicate)} not met within {timeout}s")
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T]], timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Like `wait_until` without blocking the event loop; `predicate` may be sync or async."""
    deadline = time.monotonic() + timeout
    while True:
        value: Any = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition {_describe(predicate)} not met within {timeout}s")
        await asyncio.sleep(interval)


def _describe(predicate: Callable[..., Any]) -> str:
    return getattr(predicate, "__qualname__", repr(predicate))
