"""The runner: the one process per workspace that executes tasks, fires schedules and ticks the loop.

Whoever holds `.oboto/runner.lock` is the runner. Other processes write requests into the workspace;
the runner sees them within a second through the process's one watcher (core/watch.py) and acts. When
the runner dies its flock is released, and the next process that tries (the TUI keeps trying, a daemon
waits) takes over.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Callable

from oboto.core.events import RunnerChanged, StaleFilesRemoved
from oboto.core.locks import ProcessLock
from oboto.core.stale_files import clean_stale_files

if TYPE_CHECKING:
    from oboto.services.command_socket import CommandHandler
    from oboto.services.runtime import Runtime

LOCK_RETRY_SECONDS = 1.0


class Runner:
    def __init__(self, runtime: "Runtime", *, retry_seconds: float = LOCK_RETRY_SECONDS,
                 commands: "CommandHandler | None" = None) -> None:
        self.runtime = runtime
        self.commands = commands
        """Serves `.oboto/runner.sock` with this while the runner (the daemon and the TUI give the `oboto` command)."""
        self.lock = ProcessLock(runtime.paths.runner_lock)
        self.retry_seconds = retry_seconds
        self._stop = asyncio.Event()
        self._active = asyncio.Event()

    @property
    def is_runner(self) -> bool:
        return self.lock.held

    @property
    def stopping(self) -> bool:
        """`stop()` was called."""
        return self._stop.is_set()

    def holder_pid(self) -> int | None:
        return self.lock.holder_pid()

    async def wait_until_active(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._active.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def run(self, *, wait_for_lock: bool = True) -> None:
        """Hold the runner role until `stop()`; without `wait_for_lock`, give up at once if someone else has it."""
        while not self.lock.try_acquire():
            if not wait_for_lock:
                return
            try:
                await asyncio.wait_for(self._stop.wait(), self.retry_seconds)
                return
            except TimeoutError:
                continue
        if self.lock.moved is not None:
            self.runtime.bus.publish(self.lock.moved)
        try:
            await self._serve()
        finally:
            await self._deactivate("the runner stopped")
            self.lock.release()

    async def _serve(self) -> None:
        self.runtime.bus.publish(RunnerChanged(pid=os.getpid(), is_runner=True))
        await self._remove_stale_files()  # before the services start making lock files of their own
        # Changes other processes make in `.oboto/` go to the service that owns the file; listening starts before
        # the task index is built, so what changes meanwhile is re-checked once it is.
        stop_listening = self.runtime.watcher.subscribe(self.runtime.workspace_changed)
        socket_server = self._serve_commands()
        # Active before the index is built (100,000 records take seconds): what reads it waits for the build, which
        # starts once the services run (its thread would slow their start, taking turns with them for the GIL).
        stopped = asyncio.ensure_future(self._stop.wait())
        building: asyncio.Future[None] | None = None
        try:
            self.runtime.start_executing()
            self.runtime.tasks.index.begin_build()  # before the loop hands over the first change
            building = asyncio.ensure_future(asyncio.to_thread(self.runtime.tasks.index.rebuild))
            self._active.set()
            await asyncio.wait((building, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not self._stop.is_set():
                building.result()
                self.runtime.index_built()
            await stopped
        finally:
            stopped.cancel()
            if building is not None:
                await asyncio.gather(building, return_exceptions=True)  # the index is closed only once built
            stop_listening()
            if socket_server is not None:
                # The commands it runs end first, so what they wrote is in the writer before the runner flushes it.
                await asyncio.to_thread(socket_server.stop)

    async def _remove_stale_files(self) -> None:
        cleaned = await asyncio.to_thread(clean_stale_files, self.runtime.paths.state_dir)
        if cleaned:
            self.runtime.bus.publish(StaleFilesRemoved(temp_files=cleaned.temp_files, lock_files=cleaned.lock_files))

    def _serve_commands(self):  # -> CommandSocketServer | None
        if self.commands is None:
            return None
        from oboto.services.command_socket import CommandSocketServer

        server = CommandSocketServer(self.runtime.paths, self.commands, self.runtime.bus)
        server.start()
        return server

    async def _deactivate(self, reason: str) -> None:
        if not self._active.is_set():
            return
        self._active.clear()
        await self.runtime.deactivate_runner(reason)
        self.runtime.bus.publish(RunnerChanged(pid=os.getpid(), is_runner=False, reason=reason))

    def stop(self) -> None:
        self._stop.set()


def call_in_loop(loop: asyncio.AbstractEventLoop | None, callback: Callable[[], object]) -> None:
    """Run `callback` on the runner's event loop: at once when called on it, soon when called from a worker
    thread (the TUI calls services from thread workers, and asyncio objects are not thread-safe)."""
    if loop is None or loop.is_closed():
        return
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        callback()
    else:
        loop.call_soon_threadsafe(callback)
