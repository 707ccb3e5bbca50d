"""Keyboard life in the TUI, driven with Pilot: quitting, the one confirmation, focus and visibility, selections
that follow their record, dialogs that take every key, and a footer that fits."""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

from oboto.agent.approvals import ApprovalRequest
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.conversation_models import Message
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, async_wait_until
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.conversation_dialogs import ConversationNameDialog
from oboto.tui.screens.dialog import Dialog
from oboto.tui.screens.main import MainScreen
from oboto.tui.screens.question_modal import QuestionModal
from oboto.tui.screens.schedule_form import ScheduleFormScreen
from oboto.tui.widgets.approval_prompt import ApprovalPrompt, ApprovalRequested
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversations_panel import ConversationsPanel
from oboto.tui.widgets.schedules_panel import SchedulesPanel
from oboto.tui.widgets.tasks_panel import TasksPanel
from tui_helpers import running_app, settle


def dialog(app) -> ConfirmDialog | None:
    return app.screen if isinstance(app.screen, ConfirmDialog) else None


async def send(pilot, text: str) -> None:
    chat_input = pilot.app.screen.query_one(ChatInput)
    chat_input.focus()
    chat_input.text = text
    await pilot.press("enter")


# ----- ctrl+q --------------------------------------------------------------------------------------------


async def test_ctrl_q_quits_at_once_when_nothing_would_be_cut_short(workspace: WorkspacePaths,
                                                                    llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await pilot.press("ctrl+q")
        await async_wait_until(lambda: app.return_code is not None)
        assert dialog(app) is None


async def test_ctrl_q_asks_before_cutting_a_reply_short(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="slow", delay=30))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "take your time")
        await settle(pilot, lambda: len(llm_env.requests) == 1)
        await pilot.press("ctrl+q")
        await settle(pilot, lambda: dialog(app) is not None)
        assert dialog(app).title_text == "Quit now?"
        assert "The reply being written stops; what it said so far is kept." in dialog(app).consequence
        await pilot.press("ctrl+q")  # a second ctrl+q does not stack another question
        assert sum(isinstance(screen, ConfirmDialog) for screen in app.screen_stack) == 1
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.return_code is None and app.screen.replying  # it stays, and the reply goes on
        await pilot.press("ctrl+q")
        await settle(pilot, lambda: dialog(app) is not None)
        await pilot.press("y")
        await async_wait_until(lambda: app.return_code is not None)


async def test_ctrl_q_names_the_background_tasks_it_would_interrupt(workspace: WorkspacePaths,
                                                                    llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=30))
    async with running_app(workspace) as (app, pilot):
        record = app.runtime.tasks.spawn("a long audit", "audit everything", origin="user")
        await settle(pilot, lambda: app.runtime.tasks.get(record.id).status == "running", timeout=30)
        await pilot.press("ctrl+q")
        await settle(pilot, lambda: dialog(app) is not None)
        assert "1 background task stops and is recorded as interrupted" in dialog(app).consequence
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.runtime.tasks.get(record.id).status == "running"


# ----- one confirmation for every destructive action ----------------------------------------------------


async def test_every_destructive_action_asks_with_the_one_confirmation(workspace: WorkspacePaths,
                                                                       llm_env: ScriptedLLM) -> None:
    seeded = Runtime.open(workspace.root)
    seeded.conversations.create("drafts")
    schedule = seeded.scheduler.create("nightly", "run the tests", interval_seconds=3600)
    task = seeded.tasks.spawn("tidy the docs", "tidy them")  # stays queued: this app runs no agents
    async with running_app(workspace, start_runner=False) as (app, pilot):
        asked: list[str] = []
        for keys in (("f3", "down", "d"), ("f5", "d"), ("f4", "c"), ("ctrl+s",)):
            await pilot.press(*keys)
            await settle(pilot, lambda: dialog(app) is not None)
            asked.append(dialog(app).title_text)
            await pilot.press("n")
            await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert asked == ["Delete 'drafts'?", "Delete schedule 'nightly'?", f"Cancel task {task.id}?",
                         "Emergency stop?"]
        runtime = app.runtime
        assert runtime.conversations.exists("drafts") and runtime.scheduler.get(schedule.id).status == "active"
        assert runtime.tasks.get(task.id).status == "queued"  # n kept everything as it was


# ----- focus follows visibility --------------------------------------------------------------------------


async def test_hiding_the_sidebar_moves_the_focus_to_the_input_and_its_keys_stay_quiet(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    task = Runtime.open(workspace.root).tasks.spawn("tidy the docs", "tidy them")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        panel = app.screen.query_one(TasksPanel)
        await pilot.press("f4")
        assert app.focused is panel and panel.highlighted_task_id == task.id
        await pilot.press("ctrl+b")
        assert not app.screen.query_one("#sidebar").display
        chat_input = app.screen.query_one(ChatInput)
        assert app.focused is chat_input
        await pilot.press("c")  # typed into the input, not "cancel the task nobody can see"
        assert chat_input.text == "c" and dialog(app) is None
        assert app.runtime.tasks.get(task.id).status == "queued"
        await pilot.press("f4")  # a panel's key shows the sidebar again
        assert app.screen.query_one("#sidebar").display and app.focused is panel


# ----- selections stay on their record --------------------------------------------------------------------


async def test_the_task_highlight_stays_on_its_task_as_newer_ones_arrive(workspace: WorkspacePaths,
                                                                          llm_env: ScriptedLLM) -> None:
    older = Runtime.open(workspace.root).tasks.spawn("the older task", "one")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        panel = app.screen.query_one(TasksPanel)
        await pilot.press("f4")
        assert panel.highlighted_task_id == older.id and panel.highlighted == 0
        newer = [app.runtime.tasks.spawn(f"newer {number}", "two") for number in range(3)]
        await settle(pilot, lambda: panel.option_count == 4)
        assert panel.highlighted_task_id == older.id and panel.highlighted == 3  # it moved down with its task
        await pilot.press("c")
        await settle(pilot, lambda: dialog(app) is not None)
        assert older.id in dialog(app).title_text and all(task.id not in dialog(app).title_text for task in newer)


async def test_schedule_and_conversation_highlights_stay_on_their_record(workspace: WorkspacePaths,
                                                                          llm_env: ScriptedLLM) -> None:
    seeded = Runtime.open(workspace.root)
    first = seeded.scheduler.create("first", "one", interval_seconds=3600)
    second = seeded.scheduler.create("second", "two", interval_seconds=3600)
    seeded.conversations.create("notes")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        schedules = app.screen.query_one(SchedulesPanel)
        await pilot.press("f5", "down")
        assert schedules.highlighted_schedule_id == second.id
        app.runtime.scheduler.delete(first.id)  # the row above it goes
        await settle(pilot, lambda: schedules.option_count == 1)
        assert schedules.highlighted_schedule_id == second.id
        app.runtime.scheduler.create("third", "three", interval_seconds=3600)
        await settle(pilot, lambda: schedules.option_count == 2)
        assert schedules.highlighted_schedule_id == second.id

        conversations = app.screen.query_one(ConversationsPanel)
        await pilot.press("f3", "down")
        assert conversations.highlighted_conversation == "notes"
        app.runtime.conversations.create("alpha")  # listed before "notes"
        await settle(pilot, lambda: len(conversations.rows) == 3)
        assert conversations.highlighted_conversation == "notes"


# ----- dialogs -----------------------------------------------------------------------------------------------


async def test_keys_typed_while_a_dialog_opens_go_into_it_not_the_chat(workspace: WorkspacePaths,
                                                                       llm_env: ScriptedLLM) -> None:
    save_document(workspace.questions, QuestionBook(questions=[Question(
        id="q-0badcafe", question="Which database?", origin="agent-loop", asked_by_task="t-0000beef")]))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        chat_input = app.screen.query_one(ChatInput)
        assert app.focused is chat_input
        for key in ("f2", "p", "g"):  # as fast as a person types: queued before the dialog has even mounted
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(pilot, lambda: isinstance(app.screen, QuestionModal)
                     and app.screen.query_one("#answer", Input).value == "pg")
        assert chat_input.text == ""


@pytest.mark.parametrize("opens", [("f3", "n"), ("f5", "n"), ("ctrl+s",)], ids=["name", "schedule", "confirm"])
async def test_every_dialog_dims_the_screen_behind_it(workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                     opens: tuple[str, ...]) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await pilot.press(*opens)
        await settle(pilot, lambda: isinstance(app.screen, Dialog))
        assert isinstance(app.screen, (ConversationNameDialog, ScheduleFormScreen, ConfirmDialog))
        background = app.screen.styles.background
        assert 0.5 <= background.a < 1  # translucent: the main screen shows through, dimmed


# ----- the footer -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_footer_fits_with_f1_f2_and_ctrl_b_always_shown(workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                                  size: tuple[int, int]) -> None:
    seeded = Runtime.open(workspace.root)
    seeded.conversations.append("chat", Message(role="assistant", content="Hello."))
    async with running_app(workspace, size=size, start_runner=False) as (app, pilot):
        width = size[0]
        for focus in (None, "f3", "f4", "f5", "f6", "shift+tab", "approval"):
            if focus == "shift+tab":
                app.screen.query_one(ChatInput).focus()
            if focus == "approval":  # an edit waiting for the person's yes or no
                request = ApprovalRequest(tool="edit_file", tier="write", arguments={"path": "a.py"}, subject="a.py",
                                          why="mode ask", conversation="chat")
                app.screen.post_message(ApprovalRequested(request, asyncio.get_running_loop().create_future()))
                await settle(pilot, lambda: isinstance(app.focused, ApprovalPrompt))
            elif focus is not None:
                await pilot.press(focus)
            await pilot.pause()
            footer = app.screen.query_one(Footer)
            keys = [key for key in footer.query(FooterKey) if key.action != "command_palette"]
            palette = next(key for key in footer.query(FooterKey) if key.action == "command_palette")
            shown = [key.key for key in keys]
            assert shown[:3] == ["f1", "f2", "ctrl+b"], (focus, shown)
            for key in keys:  # every key fully on screen, left of the palette hint
                assert key.region.width > 0 and key.region.right <= palette.region.x <= width, (focus, key.key)
