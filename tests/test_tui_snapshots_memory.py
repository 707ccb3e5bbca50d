"""A snapshot of the memory view with search results, at the smallest supported size and a roomy one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Iterator

import pytest
from textual.pilot import Pilot

import oboto.services.memory as memory_service
import oboto.tui.screens.memory as memory_screen
from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.tui.app import make_app
from oboto.tui.screens.memory import MemoryList

from tui_helpers import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line
NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
# (text, kind, tags, source, how long before NOW it was stored)
MEMORIES = [
    ("The staging database password is rotated every Monday by the ops team.\n"
     "The new one is in the team vault under staging/db.", "fact", ["ops", "database"], "t-0000abcd",
     timedelta(hours=3)),
    ("To restore the reporting database, stop the email worker first.", "procedure", ["database"], None,
     timedelta(days=2)),
    ('Background task "rotate credentials" completed.', "episode", ["agent-loop"], "t-0000beef",
     timedelta(minutes=5)),
    ("The billing service listens on port 3007.", "fact", ["billing"], None, timedelta(weeks=3)),
    ("The frontend build takes about four minutes.", "note", [], None, timedelta(days=400)),
    ("The CI pipeline runs the test suite on every push.", "fact", ["ci"], None, timedelta(days=9)),
]


@pytest.fixture(autouse=True)
def configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model name, so the main screen below is its normal self."""
    monkeypatch.setenv("OBOTO_MODEL", "openai/gpt-4o-mini")


@pytest.fixture
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The detail pane shows local times: pin the zone so the screenshot is the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def pinned_memories(workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch, utc_local_time: None) -> None:
    """MEMORIES stored with fixed ids and times, and the view's clock at NOW, so ids, dates and ages never move."""
    ids = count(1)
    monkeypatch.setattr(memory_service, "new_memory_id", lambda: f"m-{next(ids):012x}")
    runtime = Runtime.open(workspace.root)
    for text, kind, tags, source, ago in MEMORIES:
        monkeypatch.setattr(memory_service, "utc_now", lambda moment=NOW - ago: moment)
        runtime.memory.remember(text, kind=kind, tags=tags, source=source)
    runtime.memory.close()
    monkeypatch.setattr(memory_screen, "utc_now", lambda: NOW)


@pytest.mark.parametrize("size", SIZES)
def test_memory_view_with_search_results(snap_compare, workspace: WorkspacePaths, pinned_memories: None,
                                         size: tuple[int, int]) -> None:
    """F7's memory view after searching "database password": the header reads "Memory · 6 memories", the query
    is in the search box beside the "all kinds" select, "6 best matches" lists the password fact first (bold
    kind, a score, the first line of its text cut with "…" to fit, "#ops #database", age "3h") then the others
    with their scores, tags and ages (5m, 2d, 3w, 1y…); the results have the focus and the first one is
    highlighted; below, "m-000000000001 · fact" shows both lines of its text, its tags, source t-0000abcd and
    "created 2025-03-10 09:00 · 1 time"; the footer shows Esc Back, d Delete and / Search."""
    app = make_app(runtime=Runtime.open(workspace.root), start_runner=False, watch_files=False)

    async def search(pilot: Pilot) -> None:
        pilot.app.sub_title = "project"  # the workspace is a temporary folder whose path changes every run
        await pilot.press("f7")
        await settle(pilot, lambda: pilot.app.screen.query(MemoryList))
        for widget in pilot.app.screen.query("Input"):
            widget.cursor_blink = False
        results = pilot.app.screen.query_one(MemoryList)
        await pilot.press(*"database", "space", *"password", "enter")
        await settle(pilot, lambda: results.border_title == "6 best matches" and not results.border_subtitle)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=search)
