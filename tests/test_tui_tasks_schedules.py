"""The sidebar's tasks, schedules and agent-loop panels, driven with the keyboard against the scripted LLM."""

from __future__ import annotations

import orjson
from textual.pilot import Pilot
from textual.widgets import Input, Log, Static

from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.main import MainScreen
from oboto.tui.screens.schedule_form import ScheduleFormScreen
from oboto.tui.screens.task_detail import TaskDetailScreen, TaskSummary
from oboto.tui.widgets.loop_panel import LoopPanel
from oboto.tui.widgets.schedules_panel import SchedulesPanel
from oboto.tui.widgets.tasks_panel import TasksPanel

from tui_helpers import running_app, settle


def option_text(panel: TasksPanel | SchedulesPanel, option_id: str) -> str:
    return str(panel.get_option(option_id).prompt)


def text_of(widget: Static) -> str:
    return str(widget.content)


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


def loop_file(workspace: WorkspacePaths) -> dict:
    return orjson.loads(workspace.agent_loop.read_bytes())


async def test_a_task_is_listed_followed_live_and_cancelled(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    # A slow reply: the task is still streaming while the test reads its output and cancels it.
    llm_env.respond_with(lambda request: Reply(text="reading the files\n" + "still working\n" * 50,
                                               chunk_size=18, chunk_delay=0.2))
    async with running_app(workspace) as (app, pilot):
        runtime = app.runtime
        record = runtime.tasks.spawn("summarise the readme", "Summarise README.md")
        panel = app.screen.query_one(TasksPanel)
        await settle(pilot, lambda: option_text(panel, record.id).startswith("●"))
        assert "summarise the readme" in option_text(panel, record.id)
        assert panel.border_title == "Tasks · 1 running"

        await pilot.press("f4", "enter")
        await settle(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        detail = app.screen
        log = detail.query_one(Log)
        await settle(pilot, lambda: "reading the files" in "\n".join(log.lines))
        summary = detail.query_one(TaskSummary)
        assert record.id in text_of(summary) and "● running" in text_of(summary)
        lines_before = len(log.lines)
        await settle(pilot, lambda: len(log.lines) > lines_before)  # it keeps following the log

        await pilot.press("c")  # asks first, naming the task
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert record.id in app.screen.title_text and "summarise the readme" in app.screen.consequence
        assert runtime.tasks.get(record.id).status == "running"
        await pilot.press("y")
        await settle(pilot, lambda: runtime.tasks.get(record.id).status == "cancelled")
        await settle(pilot, lambda: "⊘ cancelled" in text_of(summary))
        await settle(pilot, lambda: "■ cancelled" in "\n".join(log.lines))
        assert "Why: cancelled on request" in text_of(summary)

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await settle(pilot, lambda: option_text(panel, record.id).startswith("⊘"))
        assert panel.border_title == "Tasks"


async def test_the_schedule_form_shows_problems_inline_and_saves_once_fixed(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, size=(80, 24)) as (app, pilot):
        runtime = app.runtime
        await pilot.press("f5", "n")
        await settle(pilot, lambda: isinstance(app.screen, ScheduleFormScreen))
        form = app.screen
        cadence_error = form.query_one("#cadence-error", Static)
        await type_text(pilot, "nightly tests")
        await pilot.press("tab")
        await type_text(pilot, "Run the test suite.")
        await pilot.press("tab", "tab")
        await type_text(pilot, "5s")
        await settle(pilot, lambda: "too short; the minimum is 10 seconds" in text_of(cadence_error))
        assert cadence_error.display
        await pilot.press("tab")
        await type_text(pilot, "bad cron")
        await settle(pilot, lambda: "must have 5 fields" in text_of(cadence_error))

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and runtime.scheduler.list() == []
        assert form.focused is form.query_one("#interval", Input)  # the first field to fix

        await pilot.press("ctrl+u", "tab", "ctrl+u")  # clear the interval, then the cron
        assert "a schedule needs an interval" in text_of(cadence_error)  # neither is given now
        await pilot.press("shift+tab")
        await type_text(pilot, "30m")
        await settle(pilot, lambda: not cadence_error.display)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))

        [schedule] = runtime.scheduler.list()
        assert (schedule.name, schedule.query, schedule.interval_seconds, schedule.cron) == (
            "nightly tests", "Run the test suite.", 1800, None)
        panel = app.screen.query_one(SchedulesPanel)
        assert "nightly tests" in option_text(panel, schedule.id)
        assert "every 30m · 0 runs" in option_text(panel, schedule.id)


async def test_schedules_are_edited_paused_triggered_and_deleted_from_the_panel(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="Tests pass."))
    async with running_app(workspace) as (app, pilot):
        scheduler = app.runtime.scheduler
        schedule = scheduler.create("nightly tests", "Run the tests.", interval_seconds=3600)
        panel = app.screen.query_one(SchedulesPanel)
        await settle(pilot, lambda: panel.highlighted_schedule_id == schedule.id)
        await pilot.press("f5")

        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, ScheduleFormScreen))
        assert app.screen.query_one("#interval", Input).value == "1h"
        app.screen.query_one("#max-runs", Input).focus()
        await type_text(pilot, "3")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert scheduler.get(schedule.id).max_runs == 3
        assert "0/3 runs" in option_text(panel, schedule.id)

        await pilot.press("p")
        await settle(pilot, lambda: scheduler.get(schedule.id).status == "paused")
        await settle(pilot, lambda: "paused on request" in option_text(panel, schedule.id))
        await pilot.press("p")
        await settle(pilot, lambda: scheduler.get(schedule.id).status == "active")
        await settle(pilot, lambda: "next " in option_text(panel, schedule.id))

        await pilot.press("t")
        await settle(pilot, lambda: scheduler.get(schedule.id).run_count == 1)
        fired = scheduler.get(schedule.id)
        assert fired.run_count == 1 and fired.last_task_id is not None
        await settle(pilot, lambda: app.runtime.tasks.get(fired.last_task_id).status == "completed")
        await settle(pilot, lambda: "1/3 runs" in option_text(panel, schedule.id))
        await settle(pilot, lambda: scheduler.get(schedule.id).last_result == "completed: Tests pass.")

        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert [item.id for item in scheduler.list()] == [schedule.id]  # the press only asks
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert [item.id for item in scheduler.list()] == [schedule.id]  # n keeps it
        await pilot.press("d", "y")
        await settle(pilot, lambda: scheduler.list() == [])
        await settle(pilot, lambda: "No schedules" in str(panel.get_option_at_index(0).prompt))
        assert panel.option_count == 1


async def test_the_loop_is_played_paused_stopped_and_retimed_from_its_panel(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="All quiet; nothing needs doing."))
    async with running_app(workspace) as (app, pilot):
        runtime = app.runtime
        panel = app.screen.query_one(LoopPanel)
        status = panel.query_one("#loop-status", Static)
        panel.focus()
        await pilot.press("space")
        await settle(pilot, lambda: loop_file(workspace)["state"] == "playing")

        # Playing ticks at once; the run's result is posted into chat as the background agent's.
        def loop_messages() -> list:
            messages = runtime.conversations.messages("chat")
            return [message for message in messages if message.marker == "background-agent"]

        await settle(pilot, loop_messages)
        assert loop_messages()[0].content == "All quiet; nothing needs doing."
        await settle(pilot, lambda: text_of(status).startswith("▶ playing · every 3m\n1 run · next tick in "))

        await pilot.press("space")
        await settle(pilot, lambda: loop_file(workspace)["state"] == "paused")
        await settle(pilot, lambda: text_of(status).startswith("⏸ paused · every 3m"))
        assert text_of(status).endswith("\npaused by the person")
        await pilot.press("space")
        await settle(pilot, lambda: loop_file(workspace)["state"] == "playing")
        await pilot.press("s")
        await settle(pilot, lambda: loop_file(workspace)["state"] == "stopped")
        await settle(pilot, lambda: text_of(status) == "■ stopped · every 3m\n1 run")

        await pilot.press("i")
        field = panel.query_one("#loop-interval-input", Input)
        assert field.has_focus and field.value == "3m"
        await pilot.press("ctrl+u", "5", "enter")
        error = panel.query_one("#loop-interval-error", Static)
        await settle(pilot, lambda: error.display)
        assert text_of(error) == "the interval must be at least 10 seconds, not 5"
        assert loop_file(workspace)["interval_seconds"] == 180
        await pilot.press("ctrl+u", "4", "5", "enter")
        await settle(pilot, lambda: loop_file(workspace)["interval_seconds"] == 45 and not field.display)
        assert not field.display and not error.display and panel.has_focus
        await settle(pilot, lambda: text_of(status).startswith("■ stopped · every 45s"))
