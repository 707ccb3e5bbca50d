"""One watcher of `.oboto/` per process: the runner's services and the TUI both listen to it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ChangeListener = Callable[[frozenset[Path]], None]

# Other processes' writes are noticed within a second (SPEC §3), in batches rather than one call per file.
DEBOUNCE_MS = 50
STEP_MS = 25


class WorkspaceWatcher:
    """Runs one `watchfiles.awatch` over `.oboto/` while anyone listens, and hands every batch of changed
    documents (JSON and JSONL, not temp files, locks, logs or corrupt copies) to each listener."""

    def __init__(self, state_dir: Path, *, ignored: Iterable[Path] = ()) -> None:
        self.state_dir = state_dir
        self._ignored_names = frozenset(path.name for path in ignored)
        self._listeners: list[ChangeListener] = []
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener` (on this event loop) with every batch of changes; returns the unsubscribe function.

        The first listener starts the watch; it stops when the last one leaves.
        """
        self._listeners.append(listener)
        if self._task is None or self._task.done():
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._watch(self._stop), name="oboto-watch")

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and self._stop is not None:
                self._stop.set()

        return unsubscribe

    @property
    def watching(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _watch(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        try:
            async for changes in awatch(self.state_dir, stop_event=stop, debounce=DEBOUNCE_MS, step=STEP_MS,
                                        recursive=True, watch_filter=self._interesting):
                changed = frozenset(Path(path) for _change, path in changes)
                for listener in list(self._listeners):
                    try:
                        listener(changed)
                    except Exception:  # one broken listener must not stop the others hearing of changes
                        log.exception("a workspace change listener failed")
        except Exception:
            log.exception("watching %s stopped", self.state_dir)

    def _interesting(self, _change: object, path: str) -> bool:
        name = os.path.basename(path)
        if name.startswith(".") or ".corrupt-" in name or name in self._ignored_names:
            return False
        # Task logs are followed by the task detail view itself; they change too often to broadcast.
        return name.endswith((".json", ".jsonl"))
