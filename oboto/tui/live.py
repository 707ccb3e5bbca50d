"""How a widget that shows service state keeps current: it subscribes to the app's signals once mounted.

The app publishes every bus event on `ObotoApp.service_events` and every batch of files changed under
`.oboto/` on `ObotoApp.workspace_files`; only the widgets that subscribed are called (a Signal drops a
widget once it is removed), so an event costs what its handlers cost, not a walk of the widget tree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from textual.dom import DOMNode

from oboto.core.events import Event

if TYPE_CHECKING:
    from oboto.tui.app import ObotoApp

log = logging.getLogger(__name__)

T = TypeVar("T")


def follow(node: DOMNode, *, events: Callable[[Event], None] | None = None,
           files: Callable[[frozenset[Path]], None] | None = None) -> None:
    """Call `events` with every service event and `files` with every batch of changed workspace files while
    `node` is mounted; call it from `on_mount`."""
    app = cast("ObotoApp", node.app)
    if events is not None:
        app.service_events.subscribe(node, _reported(node, events), immediate=True)
    if files is not None:
        app.workspace_files.subscribe(node, _reported(node, files), immediate=True)


def _reported(node: DOMNode, callback: Callable[[T], None]) -> Callable[[T], None]:
    """A Signal only logs a failing callback; this tells the person instead (in words, not a traceback)."""

    def call(data: T) -> None:
        try:
            callback(data)
        except Exception as error:
            log.exception("%s could not update", node)
            node.app.notify(f"{type(error).__name__}: {error}", title=f"{type(node).__name__} could not update",
                            severity="error", timeout=10, markup=False)

    return call
