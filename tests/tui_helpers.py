"""Driving the real app (the same factory the CLI uses) with Pilot, against the scripted LLM server."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from textual.pilot import Pilot

from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.testing import async_wait_until
from oboto.tui.app import ObotoApp, make_app


@asynccontextmanager
async def running_app(workspace: WorkspacePaths, *, size: tuple[int, int] = (120, 40), start_runner: bool = True,
                      **overrides: object) -> AsyncIterator[tuple[ObotoApp, Pilot]]:
    """The app on `workspace`, as the runner unless told otherwise; quits cleanly (runner stopped) at the end."""
    app = make_app(runtime=Runtime.open(workspace.root, **overrides), start_runner=start_runner)
    async with app.run_test(size=size) as pilot:
        if start_runner:
            await async_wait_until(lambda: app.runner is not None and app.runner.is_runner, timeout=10)
        await settle(pilot, lambda: main_screen_read(app))
        yield app, pilot
        if app.is_running:  # a test may have quit it (ctrl+q) already
            await app.quit_now()


def main_screen_read(app: ObotoApp) -> bool:
    """The main screen shows what it read in threads: the conversation and the task list."""
    from oboto.tui.screens.main import MainScreen
    from oboto.tui.widgets.conversation import ConversationView
    from oboto.tui.widgets.tasks_panel import TasksPanel

    main = next((screen for screen in app.screen_stack if isinstance(screen, MainScreen)), None)
    if main is None or not main.is_mounted:
        return False
    views, panels = main.query(ConversationView), main.query(TasksPanel)
    return bool(views and panels) and views.first().shown is not None and panels.first().listed


async def settle(pilot: Pilot, predicate, timeout: float = 10.0):
    """Wait until `predicate()` holds, letting the app process messages meanwhile."""

    async def check():
        await pilot.pause()
        return predicate()

    return await async_wait_until(check, timeout=timeout, interval=0.05)


def toasts(app: ObotoApp) -> list[str]:
    """Title and message of every notification the app holds (run_test does not draw toasts)."""
    return [f"{note.title}\n{note.message}" for note in app._notifications]
