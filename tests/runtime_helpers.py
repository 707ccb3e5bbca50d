"""A Runtime that is the runner for the length of a `with` block, with settings overridden per test."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime


@asynccontextmanager
async def runner(workspace: WorkspacePaths, **overrides: object) -> AsyncIterator[Runtime]:
    runtime = Runtime.open(workspace.root, **overrides)
    runtime.activate_runner()
    try:
        yield runtime
    finally:
        await runtime.deactivate_runner("the test finished")
