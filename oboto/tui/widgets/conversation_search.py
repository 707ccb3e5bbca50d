"""Finding words in the conversation: ctrl+f opens the search bar, Enter finds, n and N go from hit to hit.

The search reads the whole stored conversation (in a thread), not only the messages on screen; a hit among
the earlier messages has them mounted before it is shown. A hit is a message, or one tool call's block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message as TextualMessage
from textual.widget import Widget
from textual.widgets import Input, Static

from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.tui.workers import run_blocking

SEARCH_GROUP = "conversation-search"


@dataclass(frozen=True)
class SearchHit:
    """Where words were found: a message's own widget, or (`call_id`) the block of one of its tool calls."""

    message_id: str
    call_id: str | None = None


def find_hits(messages: Sequence[Message], query: str) -> list[SearchHit]:
    """Every place `query` occurs (ignoring case), oldest first, at most once per widget."""
    wanted = query.strip().casefold()
    if not wanted:
        return []
    hits: list[SearchHit] = []
    for message in messages:
        if message.role == "tool":
            if wanted in message.content.casefold():
                hits.append(SearchHit(message.id, message.tool_call_id))
            continue
        if wanted in message.content.casefold():
            hits.append(SearchHit(message.id))
        for call in message.tool_calls or ():
            function = call.get("function") or {}
            said = f"{function.get('name') or ''} {function.get('arguments') or ''}"
            if wanted in said.casefold():
                hits.append(SearchHit(message.id, call.get("id")))
    return list(dict.fromkeys(hits))  # a call found in its arguments and its result is one block


class SearchBar(Horizontal):
    """The words to find and how many places have them; Esc closes it (and the highlights go)."""

    DEFAULT_CSS = """
    SearchBar {
        display: none;
        height: 1;
        margin: 0 1;
        &.-open { display: block; }
        #search-query { width: 1fr; }
        #search-count { width: auto; padding: 0 1; color: $text-muted; }
    }
    """
    BINDINGS = [Binding("escape", "close", "Close the search", id="search-close")]

    class Find(TextualMessage):
        """The person asked to find `query` (Enter in the search bar)."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class Closed(TextualMessage):
        """The person closed the search bar."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Find in this conversation (Enter finds, then n / N)", id="search-query",
                    compact=True)
        yield Static("", id="search-count", markup=False)

    def open(self) -> None:
        self.add_class("-open")
        field = self.query_one(Input)
        field.focus()
        field.select_all()

    def show_count(self, text: str) -> None:
        self.query_one("#search-count", Static).update(text)

    @on(Input.Submitted, "#search-query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(self.Find(event.value))

    def action_close(self) -> None:
        self.remove_class("-open")
        self.show_count("")
        self.post_message(self.Closed())


class KeyboardConversation(VerticalScroll):
    """The conversation view's keys: ↑/↓ move between messages (each takes the focus, and its own keys act on
    it), page up/down, home and end scroll, and after a search (ctrl+f) n and N go to the older and newer hit.

    The view below supplies what is shown (`shown`, `runtime`) and how earlier messages are mounted.
    """

    HELP_TITLE = "The conversation (shift+tab from the input)"

    BINDINGS = [
        Binding("up", "scroll_up", "Previous message", id="conversation-previous", show=False),
        Binding("down", "scroll_down", "Next message (past the last: the input)", id="conversation-next",
                show=False),
        Binding("pageup", "page_up", "Scroll a page up (also from the input)", id="conversation-page-up",
                show=False),
        Binding("pagedown", "page_down", "Scroll a page down (also from the input)", id="conversation-page-down",
                show=False),
        Binding("home", "scroll_home", "The top of what is shown", id="conversation-top", show=False),
        Binding("end", "scroll_end", "The bottom of the conversation", id="conversation-bottom", show=False),
        Binding("n", "search_step(-1)", "Older match", id="conversation-search-older"),
        Binding("N", "search_step(1)", "Newer match", id="conversation-search-newer"),
        Binding("escape", "end_search", "End the search", id="conversation-search-end"),
    ]

    class SearchMoved(TextualMessage):
        """The search found `count` places; `position` (1 = the oldest) is the one shown, 0 when none."""

        def __init__(self, position: int, count: int) -> None:
            super().__init__()
            self.position = position
            self.count = count

    class SearchEnded(TextualMessage):
        """The person ended the search from the conversation (Esc)."""

    runtime: Runtime
    shown: str | None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hits: list[SearchHit] = []
        self._hit_index = 0
        self._searched: list[Message] = []
        """The conversation as the search read it, to mount the earlier batches a hit is in."""

    async def mount_earlier_batch(self, messages: list[Message]) -> bool:
        """Mount the batch before the oldest shown message (from `messages`); False when nothing more came (so
        here, where everything is mounted, always False)."""
        return False

    # ----- moving between messages -----------------------------------------------------------------

    def _items(self) -> list[Widget]:
        """What ↑/↓ move between: the focusable pieces of the conversation, top to bottom."""
        return [widget for widget in self.screen.focus_chain if widget is not self and self in widget.ancestors]

    def action_scroll_up(self) -> None:
        self._move_focus(-1)

    def action_scroll_down(self) -> None:
        self._move_focus(1)

    def _move_focus(self, step: int) -> None:
        items = self._items()
        focused = self.screen.focused
        if focused in items:
            target = items.index(focused) + step
        else:  # the view itself: ↑ starts from the newest message, ↓ from the oldest shown
            target = len(items) - 1 if step < 0 else 0
        if target >= len(items):
            self.screen.focus_next()  # past the newest message: back to the input below
        elif items and target >= 0:
            items[target].focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """n and N while a search has hits, Esc while a search is on (otherwise Esc cancels a reply)."""
        if action == "search_step":
            return bool(self._hits)
        if action == "end_search":
            return bool(self._searched)
        return True

    # ----- search ----------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        """Find `query` in the whole stored conversation (read in a thread) and show the newest hit."""
        name = self.shown
        if name is None:
            return
        run_blocking(self, partial(self.runtime.conversations.messages, name), partial(self._found, name, query),
                     what="Searching the conversation", group=SEARCH_GROUP, exclusive=True)

    async def _found(self, name: str, query: str, messages: list[Message]) -> None:
        if name != self.shown:
            return
        self._mark_hits(False)
        self._searched = messages
        self._hits = find_hits(messages, query)
        self._hit_index = len(self._hits) - 1
        self.refresh_bindings()
        await self._show_hit()

    async def action_search_step(self, step: int) -> None:
        """n: the next older hit, N: the next newer one; past either end it goes round."""
        if self._hits:
            self._hit_index = (self._hit_index + step) % len(self._hits)
            await self._show_hit()

    def action_end_search(self) -> None:
        self.end_search()
        self.post_message(self.SearchEnded())

    def end_search(self) -> None:
        """Forget the search and take its marks away."""
        self._mark_hits(False)
        self._hits, self._searched = [], []
        self.refresh_bindings()

    async def _show_hit(self) -> None:
        """Mount earlier batches until the current hit is on screen, mark every hit, focus the current one."""
        if not self._hits:
            self.post_message(self.SearchMoved(0, 0))
            return
        hit = self._hits[self._hit_index]
        widget = self._hit_widget(hit)
        while widget is None and await self.mount_earlier_batch(self._searched):
            widget = self._hit_widget(hit)
        self._mark_hits(True)
        if widget is not None:
            target = widget if widget.focusable else next(
                (item for item in self._items() if widget in item.ancestors), widget)
            target.focus(scroll_visible=False)
            # After the refresh, and after the place-keeping scroll that mounting earlier messages queued.
            self.call_after_refresh(self.scroll_to_widget, widget, top=True, animate=False)
        self.post_message(self.SearchMoved(self._hit_index + 1, len(self._hits)))

    def _hit_widget(self, hit: SearchHit) -> Widget | None:
        for child in self.children:
            if hit.call_id is not None:
                if getattr(child, "call_id", None) == hit.call_id:
                    return child
            elif getattr(child, "message_id", None) == hit.message_id and child.focusable:
                return child
        return None

    def _mark_hits(self, on: bool) -> None:
        current = self._hits[self._hit_index] if on and self._hits else None
        for hit in self._hits:
            if (widget := self._hit_widget(hit)) is not None:
                widget.set_class(on, "-search-hit")
                widget.set_class(hit == current, "-search-current")
