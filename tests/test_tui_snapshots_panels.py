"""Snapshots of the task detail view and the schedule form, at the smallest supported size and a roomy one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.runtime import Runtime
from oboto.services.task_models import TaskRecord
from oboto.tui.app import ObotoApp, make_app
from oboto.tui.screens.schedule_form import ScheduleFormScreen
from oboto.tui.screens.task_detail import TaskDetailScreen
from tui_helpers import main_screen_read, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
pytestmark = pytest.mark.usefixtures("steady_status_clock")  # elapsed times in the status line
TASK_ID = "t-0000abcd"
TASK_LOG = """\
[09:00:01] ▶ Summarise the README
[09:00:02] → read_file {"path": "README.md"}
[09:00:02] ← ok (3 ms)
    # oboto
    A multi-agent workspace for the terminal.
The README introduces oboto, a multi-agent workspace for the terminal.
It covers installation, the sidebar panels and the agent loop.
[09:00:13] ■ completed
"""


def at(seconds: float) -> datetime:
    """A pinned moment: the elapsed time shown is fixed, whenever the test runs."""
    return datetime(2025, 1, 2, 9, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def steady_cursors(app: ObotoApp) -> None:
    """Text cursors on every screen stop blinking, so the screenshot does not depend on its timing."""
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False


def quiet_app(workspace: WorkspacePaths) -> ObotoApp:
    """The real app without a runner or file watching, so nothing moves while the screenshot is taken."""
    return make_app(runtime=Runtime.open(workspace.root), start_runner=False, watch_files=False)


@pytest.fixture(autouse=True)
def configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model name, so the main screen shows the normal view rather than the first-run setup message."""
    monkeypatch.setenv("OBOTO_MODEL", "openai/gpt-4o-mini")


@pytest.mark.parametrize("size", SIZES)
def test_task_detail_of_a_completed_task(snap_compare, workspace: WorkspacePaths, size: tuple[int, int]) -> None:
    """The detail view of completed task t-0000abcd: the id, "✓ completed in 12.4s · from user · 2 steps ·
    1 tool call" on one line even at 80 columns, the description, "Result:" with the result's lines, and below
    it the whole output log (the read_file call, its result, the agent's text, "■ completed"); the footer shows
    Esc Back and, greyed out because the task has ended, c Cancel task."""
    record = TaskRecord(
        id=TASK_ID, description="Summarise the README", query="Summarise README.md", status="completed",
        created_at=at(0), started_at=at(1), finished_at=at(13.4), iterations=2, tool_calls=1, notice_posted=True,
        result="The README introduces oboto, a multi-agent workspace for the terminal.\n"
               "It covers installation, the sidebar panels and the agent loop.",
    )
    save_document(workspace.task_record(TASK_ID), record)
    workspace.task_log(TASK_ID).write_text(TASK_LOG, encoding="utf-8")
    app = quiet_app(workspace)

    async def open_detail(pilot: Pilot) -> None:
        await pilot.app.push_screen(TaskDetailScreen(pilot.app.runtime, TASK_ID))
        steady_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_detail)


@pytest.mark.parametrize("size", SIZES)
def test_schedule_form_with_a_validation_error(snap_compare, workspace: WorkspacePaths, size: tuple[int, int]) -> None:
    """The "New schedule" form over the dimmed main screen after a save was tried with interval "5s": the name
    and query are filled in, under the Every/cron row the service's message "the interval 5 s is too short;
    the minimum is 10 seconds" shows in the error colour, the interval field has the focus, "Skip if still
    running" is ticked, Save and Cancel buttons, and the footer shows ctrl+s Save and Esc Cancel."""
    app = quiet_app(workspace)

    async def fill_in_badly(pilot: Pilot) -> None:
        pilot.app.sub_title = "project"  # the workspace is a temporary folder whose path changes every run
        await settle(pilot, lambda: main_screen_read(pilot.app))  # the main screen shows behind the form
        await pilot.app.push_screen(ScheduleFormScreen(pilot.app.runtime))
        form = pilot.app.screen
        steady_cursors(pilot.app)
        form.query_one("#name", Input).value = "nightly tests"
        form.query_one(TextArea).text = "Run the test suite and report any failures."
        form.query_one("#interval", Input).value = "5s"
        await pilot.press("ctrl+s")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=fill_in_badly)
