"""The TUI's conversations panel, blocking questions, themes, command palette and help, driven with Pilot."""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Console
from textual.command import CommandPalette
from textual.system_commands import SystemCommandsProvider
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, Static

from oboto.core.paths import WorkspacePaths, user_config_dir
from oboto.core.store import save_document
from oboto.services.conversation_models import Message
from oboto.services.question_models import Question, QuestionBook
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.app import ObotoApp
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.conversation_dialogs import ConversationNameDialog
from oboto.tui.screens.help import HelpScreen
from oboto.tui.screens.main import MainScreen
from oboto.tui.screens.question_modal import QuestionModal
from oboto.tui.themes import DEFAULT_THEME, state_file
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.conversations_panel import ConversationsPanel
from oboto.tui.widgets.loop_panel import LoopPanel
from oboto.tui.widgets.message_widgets import UserMessage
from oboto.tui.widgets.questions_panel import QuestionsPanel
from oboto.tui.widgets.schedules_panel import SchedulesPanel
from oboto.tui.widgets.tasks_panel import TasksPanel
from tui_helpers import running_app, settle, toasts


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


async def clear_input(pilot: Pilot, field: Input) -> None:
    await pilot.press(*["backspace"] * (len(field.value) + 1))


def dialog_error(app: ObotoApp) -> str:
    error = app.screen.query_one("#dialog-error", Static)
    return str(error.content) if error.has_class("-shown") else ""


def panel_names(app: ObotoApp) -> list[str]:
    panel = app.screen.query_one(ConversationsPanel)
    return [option.id for option in panel.options if option.id is not None]


def seed_questions(workspace: WorkspacePaths, *texts: str) -> list[Question]:
    """Open questions as a runner would have left them (ids fixed so the test reads plainly)."""
    questions = [Question(id=f"q-0000000{index}", question=text, origin="agent-loop", asked_by_task=f"t-0000000{index}")
                 for index, text in enumerate(texts, start=1)]
    save_document(workspace.questions, QuestionBook(questions=questions))
    return questions


def stored_question(workspace: WorkspacePaths, question_id: str) -> dict[str, Any]:
    book = orjson.loads(workspace.questions.read_bytes())
    return next(question for question in book["questions"] if question["id"] == question_id)


# ----- conversations ---------------------------------------------------------------------------------


async def test_a_conversation_is_created_from_the_panel_after_an_inline_error(workspace: WorkspacePaths,
                                                                              llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        await pilot.press("f3", "n")
        await settle(pilot, lambda: isinstance(app.screen, ConversationNameDialog))
        await type_text(pilot, "Research Notes")
        assert "invalid conversation name 'Research Notes'" in dialog_error(app)  # said while typing
        await pilot.press("enter")
        assert isinstance(app.screen, ConversationNameDialog)
        assert "use 1-64 characters of a-z, 0-9, '-' and '_'" in dialog_error(app)
        assert not app.runtime.conversations.exists("research")

        field = app.screen.query_one("#name", Input)
        await clear_input(pilot, field)
        await type_text(pilot, "chat")
        await pilot.press("enter")
        assert dialog_error(app) == "a conversation named 'chat' already exists"

        await clear_input(pilot, field)
        await type_text(pilot, "Research")
        assert dialog_error(app) == ""
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen) and "research" in panel_names(app))
        assert app.runtime.conversations.exists("research")
        assert panel_names(app) == ["chat", "research"]
        # A new conversation is where the person wants to be next.
        await settle(pilot, lambda: app.screen.conversation == "research")
        assert app.screen.query_one(ConversationView).conversation == "research"
        assert app.runtime.conversations.active == "research"


async def test_switching_renaming_and_deleting_from_the_panel(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    seeded = Runtime.open(workspace.root)
    seeded.conversations.create("drafts")
    seeded.conversations.append("drafts", Message(role="user", content="outline the release notes"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        panel = app.screen.query_one(ConversationsPanel)
        assert panel_names(app) == ["chat", "drafts"]
        assert panel.rows == [("chat", 0, True), ("drafts", 1, False)]  # name, message count, active
        await pilot.press("f3")
        assert app.focused is panel

        await pilot.press("down", "enter")  # switch
        await settle(pilot, lambda: app.screen.conversation == "drafts")
        assert app.runtime.conversations.active == "drafts"
        view = app.screen.query_one(ConversationView)
        assert view.conversation == "drafts"
        await settle(pilot, lambda: [m.source for m in view.query(UserMessage)] == ["outline the release notes"])

        await pilot.press("f3", "up", "r")  # chat cannot be renamed: said, and no dialog opens
        await settle(pilot, lambda: any("'chat' cannot be renamed" in text for text in toasts(app)))
        assert isinstance(app.screen, MainScreen)
        await pilot.press("d")
        await settle(pilot, lambda: any("'chat' cannot be deleted" in text for text in toasts(app)))
        assert isinstance(app.screen, MainScreen)

        await pilot.press("down", "r")  # rename the conversation that is on screen
        await settle(pilot, lambda: isinstance(app.screen, ConversationNameDialog))
        field = app.screen.query_one("#name", Input)
        assert field.value == "drafts"
        await clear_input(pilot, field)
        await type_text(pilot, "release")
        await pilot.press("enter")
        await settle(pilot, lambda: panel_names(app) == ["chat", "release"])
        await settle(pilot, lambda: app.screen.conversation == "release")
        assert app.screen.query_one(ConversationView).conversation == "release"
        assert app.runtime.conversations.active == "release"

        await pilot.press("f3", "d")  # Esc keeps it (the switch put the focus in the input)
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.runtime.conversations.exists("release")

        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await settle(pilot, lambda: panel_names(app) == ["chat"])
        assert not app.runtime.conversations.exists("release")
        # The deleted conversation was on screen: the view falls back to chat.
        await settle(pilot, lambda: app.screen.conversation == "chat")
        assert app.runtime.conversations.active == "chat"


async def test_the_panel_follows_changes_made_elsewhere(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        app.runtime.conversations.create("from-the-cli")  # publishes ConversationCreated on the app's bus
        await settle(pilot, lambda: panel_names(app) == ["chat", "from-the-cli"])
        app.runtime.conversations.append("from-the-cli", Message(role="user", content="hi"))
        panel = app.screen.query_one(ConversationsPanel)
        await settle(pilot, lambda: ("from-the-cli", 1, False) in panel.rows)


# ----- blocking questions ------------------------------------------------------------------------------


def ask(question: str) -> Reply:
    return Reply(tool_calls=[ScriptedToolCall("ask_blocking_question", {"question": question})])


def echo_answer(request: dict[str, Any]) -> Reply | None:
    results = [message for message in request["messages"] if message["role"] == "tool"]
    return Reply(text=f"Got: {results[-1]['content']}") if results else None


async def test_a_loop_question_is_announced_and_answered_with_f2_and_the_loop_resumes(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(ask("Which database should the service use?"))
    llm_env.respond_with(echo_answer)
    async with running_app(workspace, size=(80, 24)) as (app, pilot):
        rung: list[bool] = []
        app.bell = lambda: rung.append(True)  # type: ignore[method-assign]
        panel = app.screen.query_one(QuestionsPanel)
        assert not panel.display  # nothing is waiting yet
        app.runtime.agent_loop.play(interval=600)

        await settle(pilot, lambda: panel.has_class("-waiting"), timeout=20)
        [question] = app.runtime.questions.open_questions()
        assert app.runtime.agent_loop.status().state == "paused"
        assert (panel.border_title, panel.border_subtitle) == ("⚠ 1 question waiting", "F2 to answer")
        assert str(panel.content) == "Which database should the service use?"
        assert panel.display and panel.region.height > 0
        assert "⚠ 1 question waiting" in app.title
        await settle(pilot, lambda: any("Which database" in text and "press F2" in text for text in toasts(app)))
        [note] = [note for note in app._notifications if "press F2" in note.title]
        assert note.severity == "warning" and note.timeout >= 120
        assert rung == [True]

        await pilot.press("f2")
        await settle(pilot, lambda: isinstance(app.screen, QuestionModal))
        modal = app.screen
        assert app.focused is modal.query_one("#answer", Input)
        assert "The agent loop" in str(modal.query_one("#asker").render())
        await pilot.press("enter")  # an empty answer is refused inline, the modal stays
        error = modal.query_one("#question-error", Static)
        await settle(pilot, lambda: "an answer cannot be empty" in str(error.content))
        assert isinstance(app.screen, QuestionModal)

        await type_text(pilot, "postgres")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        stored = stored_question(workspace, question.id)
        assert (stored["status"], stored["answer"]) == ("answered", "postgres")
        await settle(pilot, lambda: app.runtime.agent_loop.status().state == "playing")
        await settle(pilot, lambda: not panel.has_class("-waiting"))
        assert app.title == "oboto"


async def test_f2_offers_the_next_question_after_an_answer_and_esc_leaves_it_open(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    first, second = seed_questions(workspace, "Which port?", "Which branch?")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        panel = app.screen.query_one(QuestionsPanel)
        await settle(pilot, lambda: panel.has_class("-waiting"))
        assert (panel.border_title, panel.border_subtitle) == ("⚠ 2 questions waiting", "F2 to answer")
        assert str(panel.content) == "Which port?"  # the oldest first
        assert "⚠ 2 questions waiting" in app.title
        # Questions already open when the app starts are announced too.
        await settle(pilot, lambda: sum("press F2" in text for text in toasts(app)) == 2)

        await pilot.press("f2")
        await settle(pilot, lambda: isinstance(app.screen, QuestionModal))
        modal = app.screen
        assert "Which port?" in str(modal.query_one("#question", Static).content)
        assert "1 more waiting" in str(modal.query_one("#asker").render())
        await type_text(pilot, "8080")
        await pilot.press("enter")
        await settle(pilot, lambda: modal.question_id == second.id)
        assert app.screen is modal and modal.query_one("#answer", Input).value == ""
        assert "Which branch?" in str(modal.query_one("#question", Static).content)
        assert f"Answer to {first.id} sent" in str(modal.query_one("#question-status", Static).content)
        assert stored_question(workspace, first.id)["answer"] == "8080"

        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert stored_question(workspace, second.id)["status"] == "open"
        await settle(pilot, lambda: panel.border_title == "⚠ 1 question waiting" and str(panel.content) == "Which branch?")


# ----- themes, palette, help -----------------------------------------------------------------------------


async def test_a_broken_user_theme_is_reported_and_skipped(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    themes = user_config_dir() / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "typo.toml").write_text('name = "typo"\nprimry = "#ffffff"\n')
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#AA3377"\nbackground = "#101010"\n')
    async with running_app(workspace, start_runner=False) as (app, pilot):
        assert "mine" in app.available_themes
        assert "broken" not in app.available_themes and "typo" not in app.available_themes
        assert app.theme == DEFAULT_THEME
        await settle(pilot, lambda: any("broken.toml" in text for text in toasts(app)))
        [report] = [text for text in toasts(app) if "broken.toml" in text]
        assert "typo.toml" in report and "primary: Field required" in report  # one notification lists them all


async def test_a_theme_chosen_in_the_palette_is_applied_and_remembered(workspace: WorkspacePaths,
                                                                         llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, start_runner=False) as (app, pilot):
        assert app.theme == DEFAULT_THEME
        await pilot.press("ctrl+p")
        await settle(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "theme ember")
        await pilot.pause(0.3)  # the palette searches in a worker
        await pilot.press("down", "enter")
        await settle(pilot, lambda: app.theme == "ember")
        await settle(pilot, lambda: state_file().exists())
        assert orjson.loads(state_file().read_bytes())["theme"] == "ember"
    async with running_app(workspace, start_runner=False) as (app, _pilot):
        assert app.theme == "ember"


async def test_the_palette_offers_every_action(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    Runtime.open(workspace.root).conversations.create("drafts")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        provider = SystemCommandsProvider(app.screen)
        names = [hit.text async for hit in provider.discover()]
        expected = {
            "Quit", "Help: keys", "Toggle sidebar", "Answer question", "New conversation", "Rename conversation",
            "Delete conversation", "Switch to conversation: chat", "Switch to conversation: drafts",
            "Focus conversations", "Focus tasks", "Focus schedules", "Focus loop", "Focus input", "New schedule",
            "Loop: play", "Loop: pause", "Loop: stop", "Loop: set interval", "Cancel reply",
            "Theme: oboto-dark", "Theme: oboto-light", "Theme: ember",
        }
        assert expected <= set(names)
        assert {f"Theme: {name}" for name in app.available_themes} <= set(names)
        # Each action once: Textual's own "Quit", "Keys" and "Theme" are offered as oboto's entries above.
        assert len(names) == len(set(names))
        assert not {"Keys", "Theme"} & set(names)
        assert "Screenshot" in names  # Textual's commands without an oboto counterpart stay

        commands = {hit.text: hit.command async for hit in provider.discover()}
        commands["Focus tasks"]()
        await pilot.pause()
        assert app.focused is app.screen.query_one(TasksPanel)
        commands["Switch to conversation: drafts"]()
        await settle(pilot, lambda: app.screen.conversation == "drafts")
        commands["Loop: play"]()
        await settle(pilot, lambda: app.runtime.agent_loop.status().state == "playing")
        commands["Loop: stop"]()
        await settle(pilot, lambda: app.runtime.agent_loop.status().state == "stopped")


async def test_the_help_screen_lists_every_binding(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, size=(120, 40), start_runner=False) as (app, pilot):
        await pilot.press("f1")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        console = Console(width=120, record=True)
        for section in app.screen.query(".help-section, .help-section-title").results(Static):
            console.print(section.content)
        shown = console.export_text()
        lines = shown.splitlines()
        for owner in (ObotoApp, MainScreen, ConversationsPanel, TasksPanel, SchedulesPanel, LoopPanel):
            for binding in owner.BINDINGS:
                key = app.get_key_display(Binding(binding.key.split(",")[0], binding.action))
                assert any(key in line and binding.description in line for line in lines), \
                    f"{owner.__name__}: {binding.key} {binding.description!r} missing"
                # Bindings carry ids (for keymaps), but ids are the code's names, not words for a person.
                assert binding.id, f"{owner.__name__}: {binding.key} has no id"
                assert "-" not in binding.id or binding.id not in shown, binding.id
        for title in ("Everywhere", "Main screen", "Conversations panel", "Tasks panel", "Loop panel"):
            assert title in shown
        assert any("^p" in line and "Command palette" in line for line in lines)
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))


def test_shipped_themes_load_and_the_choice_is_stored() -> None:
    from oboto.tui.themes import load_themes, remember_theme, remembered_theme, shipped_themes_dir

    folder = shipped_themes_dir()
    assert folder is not None and folder.name == "themes"
    loaded = load_themes([folder])
    assert loaded.failures == []
    assert {"oboto-dark", "oboto-light", "ember"} <= {theme.name for theme in loaded.themes}
    assert remembered_theme() is None
    remember_theme("ember")
    assert remembered_theme() == "ember"
    assert orjson.loads(state_file().read_bytes()) == {"version": 1, "theme": "ember"}
