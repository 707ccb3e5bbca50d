"""`oboto run`, `oboto conversations`, `oboto doctor` and `oboto --help` as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import orjson
import pytest

from cli_helpers import oboto, oboto_process
from oboto.core.bus import EventBus
from oboto.services.conversations import ConversationManager
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, wait_until


def chat_lines(workspace) -> list[dict]:
    """The conversation's messages as the store reads them back (a streamed reply's added text folded in)."""
    return [message.model_dump(mode="json") for message in ConversationManager(workspace, EventBus()).messages("chat")]


def test_run_performs_a_multi_step_tool_turn_and_keeps_it(workspace, llm_env: ScriptedLLM) -> None:
    (workspace.root / "README.md").write_text("# Demo\nA tiny project.\n")
    llm_env.add(
        Reply(tool_calls=[ScriptedToolCall("list_files", {"path": "."})]),
        Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "README.md"})]),
        Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "SUMMARY.md", "content": "A tiny project."})]),
        Reply(text="I wrote SUMMARY.md with a one-line summary."),
    )
    result = oboto(workspace.root, "run", "Summarise the README into SUMMARY.md")
    assert result.returncode == 0, result.stderr
    assert "I wrote SUMMARY.md" in result.stdout
    assert (workspace.root / "SUMMARY.md").read_text() == "A tiny project."
    assert "→ list_files" in result.stderr and "→ write_file" in result.stderr
    listed = [m["content"] for m in llm_env.requests[1]["messages"] if m["role"] == "tool"][0]
    assert "README.md" in listed
    lines = chat_lines(workspace)
    assert lines[0]["role"] == "user" and lines[0]["content"] == "Summarise the README into SUMMARY.md"
    assert [line["name"] for line in lines if line["role"] == "tool"] == ["list_files", "read_file", "write_file"]
    final = [line for line in lines if line["role"] == "assistant" and line["status"] == "complete"][-1]
    assert final["content"] == "I wrote SUMMARY.md with a one-line summary."


def test_run_json_reports_status_and_usage(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="hello there"))
    result = oboto(workspace.root, "run", "hi", "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert document["status"] == "completed" and document["answer"] == "hello there"
    assert document["usage"]["prompt_tokens"] > 0 and document["iterations"] == 1


def test_second_run_sees_the_first_exchange(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="first answer"), Reply(text="second answer"))
    assert oboto(workspace.root, "run", "first question").returncode == 0
    assert oboto(workspace.root, "run", "second question").returncode == 0
    contents = [m["content"] for m in llm_env.requests[1]["messages"]]
    assert "first question" in contents and "first answer" in contents


def test_kill_9_during_a_streamed_reply_keeps_the_partial_reply(workspace, llm_env: ScriptedLLM) -> None:
    text = " ".join(f"word{index}" for index in range(300))
    llm_env.add(Reply(text=text, chunk_size=6, chunk_delay=0.02))
    process = oboto_process(workspace.root, "run", "talk for a while")
    try:
        def partial_on_disk() -> bool:
            path = workspace.conversation_file("chat")
            return path.exists() and b'"status":"streaming"' in path.read_bytes()

        wait_until(partial_on_disk, timeout=90)  # the process first imports litellm cold
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    messages = ConversationManager(workspace, EventBus()).messages("chat")
    reply = [m for m in messages if m.role == "assistant"][-1]
    assert reply.status == "interrupted"
    assert reply.content and text.startswith(reply.content) and len(reply.content) < len(text)


def test_transient_faults_are_retried_and_shown(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(fault="429"), Reply(fault="500"), Reply(text="made it"))
    result = oboto(workspace.root, "run", "hello")
    assert result.returncode == 0 and "made it" in result.stdout
    assert "retrying" in result.stderr


def test_auth_failure_is_plain_words_exit_1_and_never_shows_the_key(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(fault="401"))
    result = oboto(workspace.root, "run", "hello", env={"OPENAI_API_KEY": "sk-secret-abcdef123456"})
    assert result.returncode == 1
    assert "OPENAI_API_KEY" in result.stderr and "sk-secret" not in result.stderr + result.stdout
    assert len(llm_env.requests) == 1, "auth errors are not retried"
    assert "sk-secret" not in workspace.events.read_text() + workspace.conversation_file("chat").read_text()


def test_run_without_a_model_is_a_usage_error(workspace) -> None:
    result = oboto(workspace.root, "run", "hello")
    assert result.returncode == 2 and "OBOTO_MODEL" in result.stderr


@pytest.mark.parametrize("name,reason", [("Bad Name", "invalid conversation name"), ("ghost", "no conversation named")])
def test_run_in_a_bad_conversation_is_refused(workspace, llm_env, name: str, reason: str) -> None:
    result = oboto(workspace.root, "run", "hello", "--conversation", name)
    assert result.returncode == 2 and reason in result.stderr
    assert llm_env.requests == []


def test_conversations_commands(workspace) -> None:
    assert oboto(workspace.root, "conversations", "create", "research").returncode == 0
    listed = orjson.loads(oboto(workspace.root, "conversations", "list", "--json").stdout)
    assert [(c["name"], c["parent"]) for c in listed] == [("chat", None), ("research", "chat")]
    assert oboto(workspace.root, "conversations", "rename", "research", "deep-dive").returncode == 0
    shown = oboto(workspace.root, "conversations", "show", "deep-dive", "--json")
    assert shown.returncode == 0 and orjson.loads(shown.stdout) == []
    assert oboto(workspace.root, "conversations", "delete", "deep-dive").returncode == 0
    names = [c["name"] for c in orjson.loads(oboto(workspace.root, "conversations", "list", "--json").stdout)]
    assert names == ["chat"]


@pytest.mark.parametrize("args,reason", [
    (("create", "no spaces"), "invalid conversation name"),
    (("create", "chat"), "already exists"),
    (("delete", "chat"), "cannot be deleted"),
    (("rename", "chat", "x"), "cannot be renamed"),
    (("show", "ghost"), "no conversation named"),
])
def test_conversation_mistakes_exit_2_with_a_reason(workspace, args, reason: str) -> None:
    result = oboto(workspace.root, "conversations", *args)
    assert result.returncode == 2 and reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_index_is_reported_on_stderr_and_the_command_goes_on(workspace) -> None:
    assert oboto(workspace.root, "conversations", "create", "research").returncode == 0
    workspace.conversation_index.write_text("{oops")
    result = oboto(workspace.root, "conversations", "list")
    assert result.returncode == 0 and "research" in result.stdout
    assert "index.json could not be read" in result.stderr and "corrupt-" in result.stderr


def test_doctor_reports_model_key_and_files(workspace, llm_env) -> None:
    result = oboto(workspace.root, "doctor", "--json")
    checks = {check["check"]: check for check in orjson.loads(result.stdout)}
    assert result.returncode == 0
    assert checks["model"]["ok"] and "openai/scripted" in checks["model"]["detail"]
    assert checks["api key"]["detail"] == "OPENAI_API_KEY is set"
    assert "test-key" not in result.stdout


def test_doctor_fails_without_a_model(workspace) -> None:
    result = oboto(workspace.root, "doctor")
    assert result.returncode == 1 and "no model configured" in result.stdout


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from oboto.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('litellm', 'textual', 'pydantic', 'chromadb') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_imports_neither_asyncio_nor_the_permission_rules() -> None:
    code = ("import sys; from oboto.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('asyncio', 'oboto.core.permissions', 'pathspec') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_command_imports_no_other_commands_module(workspace) -> None:
    code = ("import sys; from oboto.cli import main; code = main(['conversations', 'list']); "
            "print(code, sorted(m for m in sys.modules if m.startswith('oboto.commands.') "
            "and m not in ('oboto.commands.common', 'oboto.commands.warm', 'oboto.commands.conversations')), "
            "'asyncio' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=workspace.root)
    assert result.stdout.strip().splitlines()[-1] == "0 [] False", result.stdout + result.stderr


@pytest.mark.parametrize(("argv", "command"), [
    (["conversations", "show", "chat"], "conversations"),
    (["--workspace", "tasks", "run", "x"], "run"),  # the value of --workspace is no command
    (["-w", "/tmp/x", "--mode", "full", "run", "hi"], "run"),
    (["--workspace=/tmp/x", "tasks", "list"], "tasks"),
    (["--help", "run"], None),
    (["frobnicate"], None),
    ([], None),
])
def test_the_command_a_command_line_runs(argv: list[str], command: str | None) -> None:
    from oboto.cli import command_named

    assert command_named(argv) == command


def test_the_global_options_that_take_a_value_are_the_ones_the_command_finder_skips() -> None:
    from oboto.cli import GLOBAL_OPTIONS_WITH_VALUES, build_parser

    valued = {option for action in build_parser()._actions if action.option_strings and action.nargs != 0
              for option in action.option_strings}
    assert valued == set(GLOBAL_OPTIONS_WITH_VALUES)


def test_bad_usage_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "oboto", "conversations", "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("argv", [("run", "-"), ("run",)])
def test_run_reads_the_prompt_from_standard_input(workspace, llm_env: ScriptedLLM, argv: tuple[str, ...]) -> None:
    llm_env.add(Reply(text="Piped prompt received."))
    result = subprocess.run([sys.executable, "-m", "oboto", "--workspace", str(workspace.root), *argv],
                            input="what does\nthis say?\n", capture_output=True, text=True, timeout=60,
                            env={key: value for key, value in os.environ.items() if not key.startswith("PYTEST")})
    assert result.returncode == 0, result.stderr
    assert "Piped prompt received." in result.stdout
    assert chat_lines(workspace)[0]["content"] == "what does\nthis say?\n"
