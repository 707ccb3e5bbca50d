"""Checkpointed changes in the terminal UI: diffs in file tool blocks, the files a turn and a task changed, undo
and redo from a key, the palette and /undo with the CLI's safety, and a finished task's toast."""

from __future__ import annotations

from contextlib import asynccontextmanager

from textual.system_commands import SystemCommandsProvider
from textual.widgets import Static

from oboto.core.paths import WorkspacePaths
from oboto.services.slash import SlashCommands
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall
from oboto.tui.messages import OpenTask
from oboto.tui.screens.change_diff import ChangeDiffScreen
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.main import MainScreen
from oboto.tui.screens.task_detail import TaskChanges, TaskDetailScreen
from oboto.tui.widgets.change_views import DiffView, TurnChanges
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.conversation import ConversationView
from oboto.tui.widgets.message_widgets import ToolCallBlock
from tui_helpers import running_app, settle, toasts

LONG_CONTENT = "".join(f"line {number}\n" for number in range(30))


def write(path: str, content: str) -> Reply:
    return Reply(tool_calls=[ScriptedToolCall("write_file", {"path": path, "content": content})])


def edit(path: str, old: str, new: str) -> Reply:
    return Reply(tool_calls=[ScriptedToolCall("edit_file", {"path": path, "old_text": old, "new_text": new})])


async def send(pilot, text: str) -> None:
    pilot.app.screen.query_one(ChatInput).focus()
    await pilot.press(*("space" if char == " " else char for char in text))
    await pilot.press("enter")


def view(app) -> ConversationView:
    return app.screen.query_one(ConversationView)


def blocks(app) -> dict[str, ToolCallBlock]:
    return {block.written_path: block for block in view(app).query(ToolCallBlock)}


def summaries(app) -> list[TurnChanges]:
    return list(view(app).query(TurnChanges))


def diff_text(diff: DiffView) -> str:
    return str(diff.query_one(".diff-lines", Static).content)


def diff_styles(diff: DiffView) -> dict[str, str]:
    """Each diff line with the style it is drawn in."""
    content = diff.query_one(".diff-lines", Static).content
    styles: dict[str, str] = {}
    offset = 0
    for line in str(content).split("\n"):
        styles[line] = next((str(span.style) for span in content.spans if span.start == offset), "")
        offset += len(line) + 1
    return styles


async def turn_done(app, pilot, turns: int = 1) -> None:
    await settle(pilot, lambda: not app.screen.replying and len(summaries(app)) >= turns, timeout=30)


@asynccontextmanager
async def after_a_turn_that_rewrote(workspace: WorkspacePaths, llm_env: ScriptedLLM, before: str, after: str):
    """The app after one chat turn that rewrote notes.txt from `before` to `after`; yields (app, pilot, file)."""
    notes = workspace.root / "notes.txt"
    notes.write_text(before)
    llm_env.add(write("notes.txt", after), Reply(text="done"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "change it")
        await turn_done(app, pilot)
        assert notes.read_text() == after
        yield app, pilot, notes


async def test_file_tool_blocks_show_coloured_diffs_open_when_short_folded_when_long(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.txt").write_text("one\ntwo\nthree\n")
    (workspace.root / "app.py").write_text("x = 1\ny = 2\n")
    llm_env.add(write("notes.txt", "one\n2\nthree\nfour\n"), edit("app.py", "x = 1", "x = 10"),
                write("long.txt", LONG_CONTENT), Reply(text="Done."))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "update the notes")
        await turn_done(app, pilot)
        await settle(pilot, lambda: all(block.diff_view for block in blocks(app).values()))
        notes, code, long = (blocks(app)[path].diff_view for path in ("notes.txt", "app.py", "long.txt"))

        assert str(notes.title) == "notes.txt +2 −1" and not notes.collapsed, "a short diff is shown open"
        styles = diff_styles(notes)
        assert styles["-two"] == "$text-error" and styles["+2"] == "$text-success"
        assert styles["@@ -1,3 +1,4 @@"] == "$text-muted" and styles[" one"] == ""
        assert str(code.title) == "app.py +1 −1" and "-x = 1\n+x = 10" in diff_text(code)
        assert str(long.title) == "long.txt +30" and long.collapsed, "a long diff folds to its summary line"
        assert blocks(app)["notes.txt"].collapsed, "the block's arguments stay folded while its diff shows"

        long.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        await settle(pilot, lambda: not long.collapsed)
        assert "+line 29" in diff_text(long)

        # Drawn again from the store, every block shows the same diff.
        before = {path: diff_text(block.diff_view) for path, block in blocks(app).items()}
        view(app).show("chat")
        await settle(pilot, lambda: notes not in view(app).query(DiffView)
                     and all(block.diff_view for block in blocks(app).values()))
        assert {path: diff_text(block.diff_view) for path, block in blocks(app).items()} == before


async def test_a_turn_lists_the_files_it_changed_and_u_undoes_it(workspace: WorkspacePaths,
                                                                 llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.txt").write_text("one\ntwo\n")
    llm_env.add(write("notes.txt", "one\ntwo\nthree\n"), write("new.md", "# new\n"), Reply(text="first"),
                write("other.txt", "other\n"), Reply(text="second"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "first")
        await turn_done(app, pilot)
        await send(pilot, "second")
        await turn_done(app, pilot, turns=2)
        first, second = summaries(app)
        children = list(view(app).children)
        second_prompt = next(widget for widget in children if getattr(widget, "source", None) == "second")
        assert children.index(first) < children.index(second_prompt) < children.index(second)
        assert [(file.path, file.status) for file in first.change.files] == [("new.md", "added"),
                                                                           ("notes.txt", "modified")]
        shown = str(first.content)
        assert "changed 2 files" in shown and "added    new.md" in shown and "modified notes.txt" in shown
        assert "+2" in shown and first.change.id in shown

        first.focus()
        await pilot.press("u")  # undo the first turn, not the latest one
        await settle(pilot, lambda: not (workspace.root / "new.md").exists(), timeout=30)
        await settle(pilot, lambda: first.undone_by is not None and "undone by" in str(first.content))
        assert (workspace.root / "notes.txt").read_text() == "one\ntwo\n"
        assert (workspace.root / "other.txt").read_text() == "other\n", "the later turn's file is left alone"
        assert any("Undid " + first.change.id in text for text in toasts(app))
        assert second.undone_by is None


async def test_ctrl_z_undoes_the_latest_turn_and_redo_puts_it_back(workspace: WorkspacePaths,
                                                                   llm_env: ScriptedLLM) -> None:
    async with after_a_turn_that_rewrote(workspace, llm_env, "before\n", "after\n") as (app, pilot, notes):
        asked = len(llm_env.requests)
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: notes.read_text() == "before\n", timeout=30)
        await settle(pilot, lambda: any("restored 1 file(s): notes.txt" in text for text in toasts(app)))
        assert app.screen.query_one(ChatInput).has_focus, "the key works from the (empty) input"
        await send(pilot, "/redo")
        await settle(pilot, lambda: notes.read_text() == "after\n", timeout=30)
        assert any(text.startswith("Redo done\nRedid ") for text in toasts(app))
        assert app.screen.query_one(ChatInput).text == ""
    assert len(llm_env.requests) == asked, "slash commands never reach the model"


async def test_ctrl_z_in_an_input_with_text_undoes_typing_not_the_change(workspace: WorkspacePaths,
                                                                          llm_env: ScriptedLLM) -> None:
    async with after_a_turn_that_rewrote(workspace, llm_env, "before\n", "after\n") as (app, pilot, notes):
        chat_input = app.screen.query_one(ChatInput)
        await pilot.press("h", "i")
        await pilot.pause()
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: chat_input.text == "")
        assert notes.read_text() == "after\n", "typing is undone first; the agent's change stays"
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: notes.read_text() == "before\n", timeout=30)


async def test_undo_lists_files_changed_since_and_overwrites_them_only_on_yes(workspace: WorkspacePaths,
                                                                             llm_env: ScriptedLLM) -> None:
    async with after_a_turn_that_rewrote(workspace, llm_env, "mine\n", "the agent's\n") as (app, pilot, notes):
        notes.write_text("edited again by the person\n")

        await send(pilot, "/undo")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=30)
        dialog = app.screen
        assert "notes.txt" in str(dialog.query_one("#dialog-help", Static).content)
        assert dialog.title_text == "Overwrite 1 file changed since?"
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))
        assert notes.read_text() == "edited again by the person\n", "no means nothing is touched"

        await pilot.press("ctrl+z")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=30)
        await pilot.press("y")
        await settle(pilot, lambda: notes.read_text() == "mine\n", timeout=30)
        await settle(pilot, lambda: any("Overwrote files changed since" in text for text in toasts(app)))

        await send(pilot, "/redo")  # the person's overwritten edit was checkpointed by the undo
        await settle(pilot, lambda: notes.read_text() == "edited again by the person\n", timeout=30)


async def test_slash_diff_opens_the_latest_change_and_unknown_commands_are_refused(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(write("todo.txt", "buy milk\n"), Reply(text="noted"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "/undo")
        await settle(pilot, lambda: any("nothing to undo in conversation chat" in text for text in toasts(app)))
        await send(pilot, "remember milk")
        await turn_done(app, pilot)
        asked = len(llm_env.requests)

        await send(pilot, "/diff")
        await settle(pilot, lambda: isinstance(app.screen, ChangeDiffScreen), timeout=30)
        shown = str(app.screen.query_one("#change-diff-lines", Static).content)
        assert "+++ b/todo.txt" in shown and "+buy milk" in shown
        assert "added    todo.txt" in str(app.screen.query_one("#change-files", Static).content)
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MainScreen))

        await send(pilot, "/frobnicate now")
        await settle(pilot, lambda: any(text.startswith("Unknown command\n/frobnicate is not a command")
                                        for text in toasts(app)))
        assert app.screen.query_one(ChatInput).text == "/frobnicate now", "the mistyped command is kept to fix"
    assert len(llm_env.requests) == asked, "only the real message reached the model"


def test_slash_commands_are_a_word_after_the_slash() -> None:
    assert SlashCommands.parse("/undo") == ("undo", "")
    assert SlashCommands.parse("  /Undo c-1a2b3c4d ") == ("undo", "c-1a2b3c4d")
    assert SlashCommands.parse("/etc/hosts is broken, why?") is None
    assert SlashCommands.parse("please /undo") is None


async def test_the_palette_undoes_the_last_change(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with after_a_turn_that_rewrote(workspace, llm_env, "old\n", "new\n") as (app, pilot, notes):
        commands = {hit.text: hit.command async for hit in SystemCommandsProvider(app.screen).discover()}
        assert {"Undo last change", "Redo", "Show last change"} <= commands.keys()
        commands["Undo last change"]()
        await settle(pilot, lambda: notes.read_text() == "old\n", timeout=30)


async def test_a_task_detail_lists_its_files_and_its_toast_counts_them(workspace: WorkspacePaths,
                                                                        llm_env: ScriptedLLM) -> None:
    (workspace.root / "report.md").write_text("old\n")
    llm_env.add(write("report.md", "new\nand more\n"), write("data.csv", "a,b\n"), Reply(text="written"))
    async with running_app(workspace) as (app, pilot):
        record = app.runtime.tasks.spawn("write the report", "Write report.md")
        await settle(pilot, lambda: any(f"Task {record.id} completed · 2 files changed" in text
                                        for text in toasts(app)), timeout=60)
        app.screen.post_message(OpenTask(record.id))
        await settle(pilot, lambda: isinstance(app.screen, TaskDetailScreen))
        changes = app.screen.query_one(TaskChanges)
        await settle(pilot, lambda: changes.change is not None and changes.display)
        shown = str(changes.content)
        assert "changed 2 files" in shown and "added    data.csv" in shown and "modified report.md" in shown

        await pilot.press("u")
        await settle(pilot, lambda: (workspace.root / "report.md").read_text() == "old\n", timeout=30)
        assert not (workspace.root / "data.csv").exists()
        await settle(pilot, lambda: changes.undone_by is not None)


async def test_a_file_written_twice_in_a_turn_shows_the_turns_whole_change_and_says_so(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    llm_env.add(write("draft.md", "first\n"), write("draft.md", "first\nsecond\n"), Reply(text="drafted"))
    async with running_app(workspace, start_runner=False) as (app, pilot):
        await send(pilot, "draft it")
        await turn_done(app, pilot)
        drafts = list(view(app).query(ToolCallBlock))
        await settle(pilot, lambda: all(block.diff_view for block in drafts))
        for block in drafts:
            assert str(block.diff_view.title) == "draft.md +2"
            note = block.diff_view.query_one(".diff-note", Static)
            assert "the whole turn's change to draft.md" in str(note.content)
