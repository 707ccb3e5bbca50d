"""From the TUI: a conversation's agent is chosen from the sidebar (a) and answers from then on; the loop's goals
are edited from its panel (g)."""

from __future__ import annotations

from textual.widgets import OptionList, TextArea

from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.screens.agent_dialogs import AgentPickerDialog, LoopGoalsDialog
from oboto.tui.widgets.conversations_panel import ConversationsPanel
from oboto.tui.widgets.loop_panel import LoopPanel
from tui_helpers import running_app, settle


async def test_a_conversations_agent_is_chosen_in_the_sidebar_and_answers(workspace: WorkspacePaths,
                                                                         llm_env: ScriptedLLM) -> None:
    async with running_app(workspace) as (app, pilot):
        panel = app.screen.query_one(ConversationsPanel)
        panel.focus()
        await pilot.press("a")
        dialog = await settle(pilot, lambda: isinstance(app.screen, AgentPickerDialog) and app.screen)
        agents = dialog.query_one("#agents", OptionList)
        assert "● general" in str(agents.get_option_at_index(agents.highlighted).prompt)
        agents.highlighted = [profile.name for profile in dialog.profiles].index("explore")
        await pilot.press("enter")
        await settle(pilot, lambda: app.runtime.conversations.info("chat").agent == "explore")
        await settle(pilot, lambda: not isinstance(app.screen, AgentPickerDialog))
        llm_env.add(Reply(text="Looked."))
        await app.runtime.chat("chat", "look around")
        tools = {tool["function"]["name"] for tool in llm_env.requests[-1]["tools"]}
        assert tools == {"read_file", "list_files", "search_files", "recall"}


async def test_the_loop_goals_are_edited_from_the_loop_panel(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    app_goals = ["ship 1.0"]
    async with running_app(workspace) as (app, pilot):
        app.runtime.agent_loop.set_goals(app_goals)
        app.screen.query_one(LoopPanel).focus()
        await pilot.press("g")
        dialog = await settle(pilot, lambda: isinstance(app.screen, LoopGoalsDialog) and app.screen)
        editor = dialog.query_one("#goals", TextArea)
        assert editor.text == "ship 1.0"
        editor.text = "ship 1.0\n\n  keep CI green  \n"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.runtime.agent_loop.status().goals == ["ship 1.0", "keep CI green"])
        await settle(pilot, lambda: not isinstance(app.screen, LoopGoalsDialog))
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, LoopGoalsDialog))
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, LoopGoalsDialog))
        assert app.runtime.agent_loop.status().goals == ["ship 1.0", "keep CI green"]
