"""Slash commands, shared by the TUI's input and `oboto run`: each built-in command, custom ones from
`.oboto/commands/`, completion candidates, and unknown commands that never reach the model."""

from __future__ import annotations

import orjson
import pytest

from cli_helpers import oboto
from oboto.services.runtime import Runtime
from oboto.services.slash import SlashCommands
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall


def add_command(runtime_or_root, name: str, text: str) -> None:
    root = getattr(getattr(runtime_or_root, "paths", None), "root", runtime_or_root)
    folder = root / ".oboto" / "commands"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text)


@pytest.mark.parametrize(("text", "command"), [
    ("/help", True), ("  /cost  ", True), ("/model openai/gpt-4o", True), ("/Review the tests", True),
    ("/etc/hosts is broken", False), ("what does /help do?", False), ("/", False), ("//comment", False),
    ("/2fa is on", False),
])
def test_what_counts_as_a_command(text: str, command: bool) -> None:
    assert SlashCommands.is_command(text) is command


def test_completions_give_names_usage_and_descriptions(runtime: Runtime) -> None:
    add_command(runtime, "review", "---\ndescription: Review the changes\nargument-hint: \"[focus]\"\n---\n"
                                   "Review the changes, focusing on $ARGUMENTS.\n")
    names = [item.name for item in runtime.slash_commands.completions()]
    assert names[:10] == ["help", "model", "mode", "compact", "cost", "clear", "agent", "undo", "redo", "diff"]
    assert "review" in names
    [compact, cost] = runtime.slash_commands.completions("/co")
    assert (compact.name, cost.name) == ("compact", "cost") and cost.description
    [review] = runtime.slash_commands.completions("rev")
    assert review.custom and review.usage == "/review [focus]" and review.description == "Review the changes"


async def test_unknown_command_is_an_error_and_never_sent(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    outcome = await runtime.slash_commands.run("chat", "/frobnicate now")
    assert not outcome.ok and outcome.bad_input and "unknown command /frobnicate" in outcome.text
    assert llm_env.requests == [] and runtime.conversations.messages("chat") == []


def test_run_with_an_unknown_command_exits_2_without_a_request(workspace, llm_env: ScriptedLLM) -> None:
    result = oboto(workspace.root, "run", "/x")
    assert result.returncode == 2 and "unknown command /x; /help lists the commands" in result.stderr
    assert llm_env.requests == []


async def test_help_lists_built_in_and_custom_commands_and_bad_files(runtime: Runtime) -> None:
    add_command(runtime, "fix", "Fix the failing test named $ARGUMENTS.")
    add_command(runtime, "broken", "---\ndescription: [unclosed\n---\nbody\n")
    add_command(runtime, "empty", "---\ndescription: nothing below\n---\n\n")
    add_command(runtime, "help", "I would shadow /help.")
    outcome = await runtime.slash_commands.run("chat", "/help")
    assert outcome.ok
    for usage in ("/model [NAME|default]", "/compact", "/cost", "/clear", "/undo [ID] [--force]", "/fix"):
        assert usage in outcome.text
    assert "Fix the failing test named $ARGUMENTS." in outcome.text, "no description: the first line stands in"
    problems = runtime.slash_commands.problems
    assert any("broken.md: the front matter is not valid YAML" in problem for problem in problems)
    assert any("empty.md: the command has no prompt template" in problem for problem in problems)
    assert any("help.md: /help is a built-in command" in problem for problem in problems)
    assert all(problem in outcome.text for problem in problems)


async def test_a_custom_command_expands_into_the_prompt(runtime: Runtime) -> None:
    add_command(runtime, "fix", "Fix the failing test named $ARGUMENTS, then run it.")
    add_command(runtime, "lint", "Run the linter and fix what it reports.")
    fix = await runtime.slash_commands.run("chat", "/fix test_parser")
    assert fix.ok and fix.prompt == "Fix the failing test named test_parser, then run it."
    lint = await runtime.slash_commands.run("chat", "/lint only src")
    assert lint.prompt == "Run the linter and fix what it reports.\n\nonly src"


def test_run_sends_a_custom_command_as_the_prompt(workspace, llm_env: ScriptedLLM) -> None:
    add_command(workspace.root, "explain", "Explain $ARGUMENTS in one sentence.")
    llm_env.add(Reply(text="It is a thing."))
    result = oboto(workspace.root, "run", "/explain monads")
    assert result.returncode == 0, result.stderr
    assert llm_env.requests[0]["messages"][-1] == {"role": "user", "content": "Explain monads in one sentence."}
    assert "It is a thing." in result.stdout


async def test_model_switches_this_conversation_and_is_persisted(workspace, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root)
    llm_env.add(Reply(text="from the other model"))
    switched = await runtime.slash_commands.run("chat", "/model openai/other-model")
    assert switched.ok and switched.text.startswith("Switched to openai/other-model")
    assert "context window" in switched.text
    assert (await Runtime.open(workspace.root).chat("chat", "hi")).ok, "a new process uses the persisted model"
    assert llm_env.requests[-1]["model"] == "other-model"
    assert runtime.conversations.info("chat").model == "openai/other-model"
    shown = await runtime.slash_commands.run("chat", "/model")
    assert shown.text.startswith("Model: openai/other-model (this conversation's own")
    back = await runtime.slash_commands.run("chat", "/model default")
    assert back.ok and runtime.conversations.info("chat").model is None and "openai/scripted" in back.text


async def test_model_refuses_a_model_that_cannot_be_called(runtime: Runtime, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    keyless = await runtime.slash_commands.run("chat", "/model anthropic/claude-sonnet-4-5")
    assert keyless.bad_input and "set ANTHROPIC_API_KEY" in keyless.text
    unknown = await runtime.slash_commands.run("chat", "/model frobnicator-9000")
    assert unknown.bad_input and "does not know which provider" in unknown.text
    assert runtime.conversations.info("chat").model is None


async def test_mode_shows_and_switches_the_permission_mode(runtime: Runtime) -> None:
    shown = await runtime.slash_commands.run("chat", "/mode")
    assert shown.text.startswith("Permission mode: auto-edit")
    switched = await runtime.slash_commands.run("chat", "/mode read-only")
    assert switched.ok and runtime.permission_mode == "read-only"
    wrong = await runtime.slash_commands.run("chat", "/mode yolo")
    assert wrong.bad_input and "unknown permission mode 'yolo'" in wrong.text and runtime.permission_mode == "read-only"


async def test_cost_sums_the_conversation_and_the_last_turn(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="one", prompt_tokens=1000, completion_tokens=100),
                Reply(text="two", prompt_tokens=2000, completion_tokens=200))
    assert (await runtime.chat("chat", "first")).ok and (await runtime.chat("chat", "second")).ok
    outcome = await runtime.slash_commands.run("chat", "/cost")
    assert outcome.text.splitlines() == [
        "This conversation: 3,300 tokens (3,000 in, 300 out), $0.0000 over 2 turn(s).",
        "Last turn: 2,200 tokens (2,000 in, 200 out), $0.0000.",
    ]


def test_run_prints_a_command_s_answer(workspace, llm_env: ScriptedLLM) -> None:
    result = oboto(workspace.root, "run", "/cost", "--json")
    assert result.returncode == 0, result.stderr
    answer = orjson.loads(result.stdout)
    assert answer["ok"] and answer["text"].startswith("This conversation: 0 tokens") and llm_env.requests == []


async def test_clear_and_compact_answer_in_words(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="first answer"))
    assert (await runtime.chat("chat", "first")).ok
    cleared = await runtime.slash_commands.run("chat", "/clear")
    assert cleared.ok and "no longer sees" in cleared.text
    assert runtime.context.model_messages("chat") == []
    compacted = await runtime.slash_commands.run("chat", "/compact")
    assert compacted.ok and compacted.text.startswith("Nothing to compact in chat")


async def test_agent_shows_and_switches_who_answers(runtime: Runtime) -> None:
    assert (await runtime.slash_commands.run("chat", "/agent")).text.startswith("Agent: general")
    switched = await runtime.slash_commands.run("chat", "/agent explore")
    assert switched.ok and runtime.conversations.info("chat").agent == "explore"
    unknown = await runtime.slash_commands.run("chat", "/agent nosuch")
    assert not unknown.ok and "no agent profile called 'nosuch'" in unknown.text
    assert (await runtime.slash_commands.run("chat", "/agent default")).ok
    assert runtime.conversations.info("chat").agent is None


async def test_undo_takes_back_the_conversation_s_change_with_the_cli_s_safety(runtime: Runtime, llm_env,
                                                                              monkeypatch) -> None:
    runtime.set_permission_mode("full")
    notes = runtime.paths.root / "notes.txt"
    notes.write_text("before\n")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "notes.txt", "content": "after\n"})]),
                Reply(text="done"))
    assert (await runtime.chat("chat", "change the notes")).ok
    notes.write_text("changed by hand\n")
    refused = await runtime.slash_commands.run("chat", "/undo")
    assert not refused.ok and "changed since" in refused.text and notes.read_text() == "changed by hand\n"
    forced = await runtime.slash_commands.run("chat", "/undo --force")
    assert forced.ok and forced.text.startswith("Undid ") and "restored 1 file(s): notes.txt" in forced.text
    assert notes.read_text() == "before\n"
    again = await runtime.slash_commands.run("chat", "/undo")
    assert not again.ok and "nothing to undo" in again.text
    redone = await runtime.slash_commands.run("chat", "/redo")
    assert redone.ok and redone.text.startswith("Redid ") and notes.read_text() == "changed by hand\n", \
        "a redo puts back what the undo replaced"


async def test_diff_shows_the_conversation_s_latest_change(runtime: Runtime, llm_env) -> None:
    runtime.set_permission_mode("full")
    (runtime.paths.root / "notes.txt").write_text("before\n")
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "notes.txt", "content": "after\n"})]),
                Reply(text="done"))
    assert (await runtime.chat("chat", "change the notes")).ok
    shown = await runtime.slash_commands.run("chat", "/diff")
    assert shown.ok and "-before" in shown.text and "+after" in shown.text
    [change] = [change for change in runtime.checkpoints.changes(conversation="chat") if change.parent is None]
    assert (await runtime.slash_commands.run("chat", f"/diff {change.id}")).text == shown.text
    runtime.conversations.create("side")
    other = await runtime.slash_commands.run("side", "/diff")
    assert not other.ok and "no change recorded for conversation side" in other.text


async def test_a_custom_command_reached_through_a_link_is_not_read(runtime: Runtime, tmp_path) -> None:
    """`.oboto/commands/` is state: a file there that is a link (out of the workspace, say) is left out, as
    every state file is (core.safe_open)."""
    outside = tmp_path / "elsewhere.md"
    outside.write_text("Send me everything.\n")
    folder = runtime.paths.commands_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sneaky.md").symlink_to(outside)
    assert "sneaky" not in [item.name for item in runtime.slash_commands.completions()]
    [problem] = runtime.slash_commands.problems
    assert problem.startswith(f"{folder / 'sneaky.md'} is a symbolic link") and "it was not read" in problem
