"""Control from the command line: asking on a terminal (a real pty), refusing without one, --yes, --mode,
`oboto audit`, and the emergency stop with a daemon running tasks, a schedule and the loop."""

from __future__ import annotations

import os
import sys

import orjson
import pexpect
import pytest

from cli_helpers import cli_env, oboto
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall


def tool_results(request: dict) -> list[str]:
    return [message["content"] for message in request["messages"] if message["role"] == "tool"]


def offered_tools(request: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools") or []}


def delete_victim_script(llm: ScriptedLLM) -> None:
    llm.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "rm -rf victim && echo gone"})]),
            Reply(text="done"))


def spawn_run(workspace, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "oboto", "--workspace", str(workspace.root), "run", *args],
                          env=cli_env(), encoding="utf-8", timeout=60, dimensions=(24, 120))
    return child


def test_without_a_terminal_an_ask_is_refused_and_stderr_says_how_to_allow_it(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    result = oboto(workspace.root, "run", "clean up")
    assert result.returncode == 0, result.stderr
    assert (workspace.root / "victim").is_dir()
    refusal = tool_results(llm_env.requests[1])[0]
    assert "run_command was not run" in refusal and "nobody can be asked" in refusal
    assert "--yes" in result.stderr and "--mode" in result.stderr and "allow rule" in result.stderr
    entry = orjson.loads(workspace.audit.read_bytes().splitlines()[-1])
    assert entry["decision"] == "ask→denied" and entry["conversation"] == "chat"


def test_yes_approves_every_ask_for_that_run(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    result = oboto(workspace.root, "run", "--yes", "clean up")
    assert result.returncode == 0, result.stderr
    assert not (workspace.root / "victim").exists()
    entry = orjson.loads(workspace.audit.read_bytes().splitlines()[-1])
    assert entry["decision"] == "ask→allowed" and entry["reason"] == "approved by --yes"


def test_mode_full_runs_commands_and_read_only_offers_no_writing_tool(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    assert oboto(workspace.root, "run", "--mode", "full", "clean up").returncode == 0
    assert not (workspace.root / "victim").exists()
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("write_file", {"path": "x.txt", "content": "x"})]),
                Reply(text="ok"))
    assert oboto(workspace.root, "run", "--mode", "read-only", "write x").returncode == 0
    request = llm_env.requests[-2]
    assert "read_file" in offered_tools(request) and not offered_tools(request) & {"write_file", "run_command"}
    assert not (workspace.root / "x.txt").exists()
    assert "mode read-only" in tool_results(llm_env.requests[-1])[-1]


def test_the_mode_comes_from_the_environment_and_a_bad_one_is_exit_2(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    assert oboto(workspace.root, "run", "go", env={"OBOTO_PERMISSIONS__MODE": "full"}).returncode == 0
    assert not (workspace.root / "victim").exists()
    bad = oboto(workspace.root, "run", "--mode", "yolo", "go")
    assert bad.returncode == 2 and "yolo" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs a pseudo-terminal")
def test_on_a_terminal_yes_runs_the_command(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    child = spawn_run(workspace, "clean up")
    child.expect("rm -rf victim")
    child.expect(r"\[y\]es / \[a\]lways")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not (workspace.root / "victim").exists()


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs a pseudo-terminal")
def test_on_a_terminal_no_with_a_reason_reaches_the_model(workspace, llm_env) -> None:
    (workspace.root / "victim").mkdir()
    delete_victim_script(llm_env)
    child = spawn_run(workspace, "clean up")
    child.expect(r"\[n\]o")
    child.sendline("n")
    child.expect("Why not")
    child.sendline("keep the victim folder")
    child.expect(pexpect.EOF)
    child.close()
    assert (workspace.root / "victim").is_dir()
    assert "keep the victim folder" in tool_results(llm_env.requests[1])[0]


@pytest.mark.skipif(not os.path.exists("/dev/ptmx"), reason="needs a pseudo-terminal")
def test_on_a_terminal_always_is_remembered_for_the_conversation(workspace, llm_env) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo hello"})]), Reply(text="1"),
                Reply(tool_calls=[ScriptedToolCall("run_command", {"command": "echo hello"})]), Reply(text="2"))
    child = spawn_run(workspace, "first")
    child.expect(r"\[a\]lways")
    child.sendline("a")
    child.expect(pexpect.EOF)
    child.close()
    again = oboto(workspace.root, "run", "second")  # no terminal now: it would be refused if it asked
    assert again.returncode == 0
    assert "hello" in tool_results(llm_env.requests[3])[-1]
    decisions = [orjson.loads(line)["decision"] for line in workspace.audit.read_bytes().splitlines()]
    assert decisions == ["ask→allowed", "allow"]


def test_audit_filters_and_prints_one_line_per_call(workspace, llm_env) -> None:
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("list_files", {"path": "."}),
                                  ScriptedToolCall("run_command", {"command": "echo hi"})]),
                Reply(text="done"))
    assert oboto(workspace.root, "run", "look").returncode == 0
    listing = oboto(workspace.root, "audit")
    assert listing.returncode == 0
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 2 and "list_files" in lines[0] and "run_command" in lines[1]
    assert "ask→denied" in lines[1] and "chat" in lines[1]
    denied = orjson.loads(oboto(workspace.root, "audit", "--decision", "denied", "--json").stdout)
    assert [entry["tool"] for entry in denied] == ["run_command"]
    assert orjson.loads(oboto(workspace.root, "audit", "--conversation", "research", "--json").stdout) == []
    assert len(orjson.loads(oboto(workspace.root, "audit", "--since", "1h", "--json").stdout)) == 2
    bad = oboto(workspace.root, "audit", "--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr
