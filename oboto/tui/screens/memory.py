"""The workspace memory: search it (or list the newest), filter by kind, read one in full, delete with `d` (asked first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from oboto.core.events import Event, MemoryForgotten, MemoryReembedded, MemoryStored
from oboto.core.memory_rules import MAX_QUERY_CHARS, MEMORY_KINDS
from oboto.core.models import utc_now
from oboto.services.memory_models import MemoryRecord
from oboto.services.runtime import Runtime
from oboto.tui.keys import GlobalKeysFirst
from oboto.tui.live import follow
from oboto.tui.screens.confirm import ConfirmDialog

MEMORY_EVENTS = (MemoryStored, MemoryForgotten, MemoryReembedded)
ALL_KINDS = "all"
# Typing pauses this long before a search runs, so a search does not run per keystroke.
SEARCH_DELAY_SECONDS = 0.3
SEARCH_RESULTS = 20
NEWEST_SHOWN = 50
LOAD_GROUP = "memory-load"
AGE_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60))


@dataclass(frozen=True)
class MemoryPage:
    """What one load found: the memories to show (with their scores when searched) and the counts for the title."""

    query: str
    kind: str | None
    rows: tuple[tuple[MemoryRecord, float | None], ...]
    total: int
    of_kind: int | None


def age_text(moment: datetime, now: datetime) -> str:
    """How long ago, in its largest whole unit: "now", "5m", "3h", "2d", "6w", "1y"."""
    seconds = (now - moment).total_seconds()
    for unit, size in AGE_UNITS:
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return "now"


def counted(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def memory_row(record: MemoryRecord, score: float | None, now: datetime) -> Table:
    """One result line: kind, score (when searched), the text's first line cut to fit, tags, age."""
    # A grid's column widths include the padding: "procedure", the longest kind, and "-0.12" get one space more.
    row = Table.grid(padding=(0, 1), expand=True)
    row.add_column(width=10, no_wrap=True)
    if score is not None:
        row.add_column(width=6, no_wrap=True, justify="right")
    row.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    row.add_column(no_wrap=True, overflow="ellipsis", max_width=24)
    row.add_column(width=3, no_wrap=True, justify="right")
    cells = [Text(record.kind, style="bold")]
    if score is not None:
        cells.append(Text(f"{round(score, 2) + 0.0:.2f}"))  # + 0.0 turns -0.0 into 0.0, never shown as "-0.00"
    cells += [Text(first_line(record.text)), Text(" ".join(f"#{tag}" for tag in record.tags), style="dim"),
              Text(age_text(record.updated_at, now), style="dim")]
    row.add_row(*cells)
    return row


def memory_details(record: MemoryRecord) -> Content:
    """The whole text, then tags, source, dates (local time) and how often it was stored."""

    def fact(label: str, value: str) -> Content:
        return Content.assemble((f"{label:<8}", "$text-muted"), value)

    stamp = "%Y-%m-%d %H:%M"
    dates = f"created {record.created_at.astimezone().strftime(stamp)}"
    if record.updated_at != record.created_at:
        dates += f" · updated {record.updated_at.astimezone().strftime(stamp)}"
    lines = [Content(record.text.strip()), Content(""),
             fact("tags", ", ".join(record.tags) or "none"),
             fact("source", record.source or "none"),
             fact("stored", f"{dates} · {counted(record.times, 'time')}")]
    return Content("\n").join(lines)


class MemoryList(OptionList):
    """The memories found; `d` deletes the highlighted one (asked first), `/` goes back to the search."""

    BINDINGS = [
        Binding("d", "screen.delete_memory", "Delete", id="memory-delete"),
        Binding("slash", "screen.focus_search", "Search", id="memory-focus-search"),
    ]


class MemoryScreen(GlobalKeysFirst):
    """Search box and kind filter on top, the memories found, the highlighted one in full below; Esc goes back."""

    CSS_PATH = "memory.tcss"
    BINDINGS = [Binding("escape", "back", "Back", id="memory-back")]

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self._memories: dict[str, MemoryRecord] = {}
        self._load_timer: Timer | None = None
        self._shown_search: tuple[str, str | None] | None = None
        """The query and kind of the results shown."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="memory-filters"):
            yield Input(placeholder="Search memories · empty shows the newest", max_length=MAX_QUERY_CHARS,
                        id="memory-query")
            yield Select([("all kinds", ALL_KINDS), *((kind, kind) for kind in MEMORY_KINDS)], value=ALL_KINDS,
                         allow_blank=False, id="memory-kind")
        yield MemoryList(id="memory-results")
        with VerticalScroll(id="memory-detail"):
            yield Static(id="memory-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "Memory"
        results = self.query_one(MemoryList)
        results.border_title = "Memories"
        # Only the first load waits for Chroma to open; later ones keep the old results up while they run.
        results.loading = True
        self._show_detail(None)
        self.query_one("#memory-query", Input).focus()
        follow(self, events=self._memory_event)
        self.load()

    # ----- loading -------------------------------------------------------------------------------

    def _memory_event(self, event: Event) -> None:
        """Memories stored, updated or deleted by anyone (agents, episodes, this screen) show up here."""
        if isinstance(event, MEMORY_EVENTS):
            self._load_later()

    @on(Input.Changed, "#memory-query")
    def _query_changed(self) -> None:
        self._load_later()

    @on(Input.Submitted, "#memory-query")
    def _query_submitted(self) -> None:
        self.load()
        self.query_one(MemoryList).focus()

    @on(Select.Changed, "#memory-kind")
    def _kind_changed(self) -> None:
        self.load()

    def _load_later(self) -> None:
        """Load once things are quiet for a moment (typing, or a burst of stored episodes)."""
        if self._load_timer is not None:
            self._load_timer.stop()
        self._load_timer = self.set_timer(SEARCH_DELAY_SECONDS, self.load)

    def load(self) -> None:
        """Search for the query (or list the newest) of the chosen kind, off the UI thread."""
        if self._load_timer is not None:
            self._load_timer.stop()
            self._load_timer = None
        query = self.query_one("#memory-query", Input).value.strip()
        kind = self.query_one("#memory-kind", Select).value
        self.query_one(MemoryList).border_subtitle = "searching…" if query else "loading…"
        self._fetch(query, None if kind == ALL_KINDS else str(kind))

    @work(thread=True, exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    def _fetch(self, query: str, kind: str | None) -> MemoryPage:
        """Blocking (Chroma, the embedder). Exclusive: a newer load cancels an older one, whose result is never shown."""
        memory = self.runtime.memory
        if query:
            rows = tuple((found.record, found.score) for found in memory.recall(query, k=SEARCH_RESULTS, kind=kind))
        else:
            rows = tuple((record, None) for record in memory.list(kind=kind, limit=NEWEST_SHOWN))
        return MemoryPage(query, kind, rows, memory.count(), memory.count(kind) if kind else None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every load ends here, successful or not."""
        worker, state = event.worker, event.state
        if worker.group == LOAD_GROUP and state == WorkerState.SUCCESS:
            self._show_page(worker.result)
        elif worker.group == LOAD_GROUP and state == WorkerState.ERROR:
            results = self.query_one(MemoryList)
            results.loading = False
            results.border_subtitle = ""
            self._memories = {}
            results.set_options([Option(Content.styled(f"The memory could not be read: {worker.error}", "$error"),
                                        disabled=True)])
            self._show_detail(None)

    # ----- showing -------------------------------------------------------------------------------

    def _show_page(self, page: MemoryPage) -> None:
        """Show what a load found. A new search starts at its best match; the same one, reloaded after a change,
        keeps the highlight on the same memory (or at the same place when that one is gone)."""
        results = self.query_one(MemoryList)
        results.loading = False
        results.border_subtitle = ""
        before_id, before_index = self._highlighted_id(), results.highlighted or 0
        if (page.query, page.kind) != self._shown_search:
            before_id, before_index = None, 0
        self._shown_search = (page.query, page.kind)
        self._memories = {record.id: record for record, _score in page.rows}
        now = utc_now()
        if page.rows:
            results.set_options(Option(memory_row(record, score, now), id=record.id) for record, score in page.rows)
            ids = list(self._memories)
            results.highlighted = ids.index(before_id) if before_id in ids else min(before_index, len(ids) - 1)
        else:
            results.set_options([Option(Content.styled(self._nothing_text(page), "$text-muted"), disabled=True)])
        results.border_title = (counted(len(page.rows), "best match", "best matches") if page.query
                                else f"Newest {len(page.rows)}")
        title = f"Memory · {counted(page.total, 'memory', 'memories')}"
        if page.kind is not None and page.of_kind is not None:
            title += f" · {counted(page.of_kind, page.kind)}"
        self.title = title
        self._show_detail(self._memories.get(self._highlighted_id() or ""))
        self.refresh_bindings()

    @staticmethod
    def _nothing_text(page: MemoryPage) -> str:
        if page.total == 0:
            return "No memories yet. Agents keep them with the remember tool; `oboto memory add` adds one."
        if page.kind is not None and not page.of_kind:
            return f"No {page.kind} memories."
        return "Nothing matches."

    def _drop(self, memory_id: str) -> None:
        """Take a deleted memory off the list at once; the MemoryForgotten event reloads the counts."""
        results = self.query_one(MemoryList)
        if self._memories.pop(memory_id, None) is not None:
            results.remove_option(memory_id)
        self._show_detail(self._memories.get(self._highlighted_id() or ""))
        self.refresh_bindings()

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self._show_detail(self._memories.get(message.option.id or ""))

    def _show_detail(self, record: MemoryRecord | None) -> None:
        detail = self.query_one("#memory-detail", VerticalScroll)
        text = self.query_one("#memory-text", Static)
        if record is None:
            detail.border_title = "Details"
            text.update(Content.styled("Highlight a memory to read it in full.", "$text-muted"))
            return
        detail.border_title = f"{record.id} · {record.kind}"
        text.update(memory_details(record))
        detail.scroll_home(animate=False)

    def _highlighted_id(self) -> str | None:
        option = self.query_one(MemoryList).highlighted_option
        return option.id if option is not None else None

    # ----- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Delete shows greyed out while no memory is highlighted."""
        if action == "delete_memory":
            return True if self._highlighted_id() in self._memories else None
        return True

    def action_delete_memory(self) -> None:
        record = self._memories.get(self._highlighted_id() or "")
        if record is None:
            self.notify("No memory is highlighted.", severity="warning", timeout=3)
            return

        def deleted(forgotten: MemoryRecord) -> None:
            self._drop(forgotten.id)
            self.notify(f"Deleted {forgotten.id}.", timeout=3)

        self.app.push_screen(ConfirmDialog(
            f"Delete memory {record.id}?", f"{record.kind}: {first_line(record.text)}\nAgents will not recall it again.",
            "Delete", partial(self.runtime.memory.forget, record.id), done=deleted, keep_label="Keep"))

    def action_focus_search(self) -> None:
        self.query_one("#memory-query", Input).focus()

    def action_back(self) -> None:
        self.dismiss()
