"""The footer's order: the keys that work everywhere come first, so a narrow terminal cuts local keys, not these."""

from __future__ import annotations

from textual.binding import ActiveBinding
from textual.screen import Screen

FOOTER_FIRST = ("help", "answer-question", "toggle-sidebar")
"""Binding ids shown first in every footer, in this order (the rest follow as Textual lists them)."""


class GlobalKeysFirst(Screen[None]):
    """A screen whose footer lists FOOTER_FIRST before the focused widget's own keys.

    Textual lists the focused widget's bindings first and the app's last, so at 80 columns a panel with five
    keys pushes F1 and F2 off the edge; the footer reads `active_bindings`, so reordering it here is enough.
    """

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        bindings = super().active_bindings
        rank = {binding_id: position for position, binding_id in enumerate(FOOTER_FIRST)}
        first = sorted((key for key, active in bindings.items() if active.binding.id in rank),
                       key=lambda key: rank[bindings[key].binding.id or ""])
        return {**{key: bindings[key] for key in first}, **bindings}
