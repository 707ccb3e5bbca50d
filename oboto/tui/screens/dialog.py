"""The base of every dialog: it dims what is behind it (app.tcss) and takes every key from the moment it opens.

A key typed while a dialog opens reaches the dialog screen before the field it focuses in `on_mount` has the
focus (Textual focuses after the current messages), so it would be lost, or worse, taken for a binding
nothing shows yet. Until the dialog has settled (its first refresh) such keys are held, then handed to the
widget that has the focus, as if typed a moment later.
"""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.screen import ModalScreen

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A modal dialog; keys typed before it settled go to its focused widget, in order."""

    def __init__(self) -> None:
        super().__init__()
        self._settled = False
        self._early_keys: list[events.Key] = []

    def _on_mount(self, event: events.Mount) -> None:
        self.call_after_refresh(self._settle)

    def on_key(self, event: events.Key) -> None:
        if not self._settled:
            event.stop()
            event.prevent_default()
            self._early_keys.append(event)

    def _settle(self) -> None:
        self._settled = True
        target = self.focused or self
        for key in self._early_keys:
            target.post_message(events.Key(key.key, key.character))
        self._early_keys.clear()
