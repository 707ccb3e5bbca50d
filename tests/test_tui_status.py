"""What the TUI shows while agents work: the person's message at once, the status line through a turn, and toasts
(a finished task, not a routine schedule run; a question's toast gone once it is answered; never over the input)."""

from __future__ import annotations

from typing import Any

from textual.widgets._toast import Toast

from oboto.core.events import Event, MessageAppended
from oboto.core.paths import WorkspacePaths
from oboto.core.store import save_document
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.app import make_app
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import UserMessage
from oboto.tui.widgets.status_line import StatusLine
from tui_helpers import main_screen_read, running_app, settle, toasts


def activity(app) -> str:
    return app.screen.query_one(StatusLine).content.plain.splitlines()[0]


async def test_the_message_shows_at_once_and_the_status_line_follows_the_turn(workspace: WorkspacePaths,
                                                                              llm_env: ScriptedLLM) -> None:
    replies = [Reply(tool_calls=[ScriptedToolCall("list_files", {})], delay=0.3),
               Reply(text="There are no files yet. " * 5, chunk_size=10, chunk_delay=0.05, delay=0.3)]
    llm_env.add(*replies)
    used = sum(reply.prompt_tokens + reply.estimated_completion_tokens for reply in replies)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        view = app.screen.query_one(ConversationView)
        status = app.screen.query_one(StatusLine)
        phases: list[str] = []
        record_phase = status._set_phase
        status._set_phase = lambda phase: (phases.append(phase), record_phase(phase))  # every phase it was told
        on_screen_when_stored: list[bool] = []

        def stored(event: Event) -> None:
            # Called as the turn stores the message, in the turn itself: was it drawn before that?
            if isinstance(event, MessageAppended) and event.role == "user":
                shown = [widget for widget in view.query(UserMessage) if widget.source == "what is here?"]
                on_screen_when_stored.append(bool(shown) and shown[0].region.height > 0 and not llm_env.requests)

        app.runtime.bus.subscribe(stored)
        chat_input = app.screen.query_one(ChatInput)
        chat_input.text = "what is here?"
        await pilot.press("enter")
        assert chat_input.text == ""
        assert [widget.source for widget in view.query(UserMessage)] == ["what is here?"]
        assert " working " in activity(app)  # the indicator runs from Enter
        await settle(pilot, lambda: not app.screen.replying)
        await settle(pilot, lambda: activity(app).startswith("✓ answered in") and "this turn" in activity(app))
        assert activity(app).endswith(f"· this turn {used} tokens, $0")  # as the server reported them

        assert on_screen_when_stored == [True]
        assert phases[0] == "waiting for the model"
        assert "running list_files…" in phases and phases[-1] == "writing"
        assert phases.index("running list_files…") < phases.index("writing")
        # Drawn once, under its stored id: the message shown on Enter became the stored one.
        stored_ids = [message.id for message in app.runtime.conversations.messages("chat") if message.role == "user"]
        assert [widget.message_id for widget in view.query(UserMessage)] == stored_ids


async def test_escape_ends_the_indicator_as_cancelled(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="slow", delay=30))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        app.screen.query_one(ChatInput).text = "wait"
        await pilot.press("enter")
        await settle(pilot, lambda: "waiting for the model" in activity(app))
        await pilot.press("escape")
        await settle(pilot, lambda: activity(app).startswith("■ cancelled after"))


# ----- toasts ------------------------------------------------------------------------------------------------


def finished_toasts(app) -> list[str]:
    return [text for text in toasts(app) if text.startswith("Background task finished")]


async def test_a_finished_task_toasts_but_a_schedule_run_only_when_it_failed(workspace: WorkspacePaths,
                                                                             llm_env: ScriptedLLM) -> None:
    def answer(request: dict[str, Any]) -> Reply:
        said = " ".join(str(message.get("content")) for message in request["messages"])
        return Reply(fault="401") if "break it" in said else Reply(text="Done.")

    llm_env.respond_with(answer)
    async with running_app(workspace) as (app, pilot):
        runtime = app.runtime
        task = runtime.tasks.spawn("summarise the readme", "summarise it", origin="user")
        await settle(pilot, lambda: any(task.id in text for text in finished_toasts(app)), timeout=30)

        routine = runtime.scheduler.create("tidy", "tidy up", interval_seconds=3600)
        runtime.scheduler.trigger_now(routine.id)
        await settle(pilot, lambda: runtime.scheduler.get(routine.id).last_result is not None, timeout=30)
        ran = runtime.scheduler.get(routine.id).last_task_id
        assert runtime.tasks.get(ran).status == "completed"

        failing = runtime.scheduler.create("breaks", "break it", interval_seconds=3600)
        runtime.scheduler.trigger_now(failing.id)
        await settle(pilot, lambda: runtime.scheduler.get(failing.id).last_result is not None, timeout=30)
        failed = runtime.scheduler.get(failing.id).last_task_id
        await settle(pilot, lambda: any(failed in text for text in finished_toasts(app)))
        assert not any(ran in text for text in finished_toasts(app))  # the routine run only went to its history


async def test_the_question_toast_goes_once_the_question_is_answered(workspace: WorkspacePaths,
                                                                     llm_env: ScriptedLLM) -> None:
    save_document(workspace.questions, QuestionBook(questions=[Question(
        id="q-0badcafe", question="Which database?", origin="agent-loop", asked_by_task="t-0000beef")]))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await settle(pilot, lambda: any("press F2 to answer" in text for text in toasts(app)))
        app.runtime.questions.answer("q-0badcafe", "SQLite")
        await settle(pilot, lambda: not any("press F2 to answer" in text for text in toasts(app)))


async def test_toasts_stack_at_the_top_and_never_cover_the_input(workspace: WorkspacePaths,
                                                                  llm_env: ScriptedLLM) -> None:
    app = make_app(runtime=Runtime.open(workspace.root), start_runner=False, watch_files=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot, lambda: main_screen_read(app))
        for number in range(3):
            app.notify(f"Something happened, number {number}, with a few words more to wrap.", timeout=30)
        await settle(pilot, lambda: len(app.screen.query(Toast)) == 3 and all(
            toast.region.height for toast in app.screen.query(Toast)))
        chat_input = app.screen.query_one(ChatInput).region
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(chat_input)
            assert toast.region.y < chat_input.y
        await app.quit_now()
