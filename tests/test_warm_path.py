"""The warm path: with a runner active, model and memory commands run in it over `.oboto/runner.sock`, and print,
exit and answer `--json` exactly as they do in their own process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from oboto.core.locks import ProcessLock
from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM, wait_until
from cli_helpers import cli_env, oboto_process
from cli_helpers import oboto as run_oboto

HEAVY_MODULES = ("litellm", "chromadb", "wordllama")
ENV: dict[str, str] = {}
"""The environment of the daemon and of every client (the same, or the runner declines): set by `llm_env`."""
COLD = {"OBOTO_NO_RUNNER_SOCKET": "1"}


@pytest.fixture(scope="module")
def llm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedLLM]:
    """One scripted server and one environment for the module: a daemon is started once for all its tests."""
    with ScriptedLLM() as server:
        ENV.update(OBOTO_MODEL="openai/scripted", OBOTO_API_BASE=server.base_url, OPENAI_API_KEY="test-key",
                   OBOTO_CONFIG_DIR=str(tmp_path_factory.mktemp("user-config")), OBOTO_LOCAL_FALLBACK="false",
                   LITELLM_LOCAL_MODEL_COST_MAP="True",
                   # The daemon starts before the per-test isolated_environment sets this for the clients.
                   OBOTO_LOCAL_DISCOVERY="false")
        yield server


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> WorkspacePaths:
    paths = WorkspacePaths.for_root(tmp_path_factory.mktemp("project"))
    paths.ensure()
    return paths


@pytest.fixture(scope="module")
def daemon(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> Iterator[subprocess.Popen]:
    process = oboto_process(workspace.root, "daemon", env=ENV)
    wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == process.pid, timeout=30)
    wait_until(lambda: workspace.runner_socket.exists(), timeout=10)
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert not os.path.lexists(workspace.runner_socket), "a stopping runner removes its socket"


def oboto(root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None):
    # cold runs import litellm: on a loaded machine that alone can take most of a minute
    return run_oboto(root, *args, env={**ENV, **(env or {})}, input=input, timeout=240)


def modules_loaded_by(root, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set]:
    """Run `oboto ARGS` in a child that reports which of the heavy libraries it imported (on fd 3)."""
    read_end, write_end = os.pipe()
    script = ("import os, sys\nfrom oboto.cli import main\ncode = main(sys.argv[1:])\n"
              f"os.write({write_end}, ' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules).encode())\n"
              "sys.exit(code)\n")
    try:
        done = subprocess.run([sys.executable, "-c", script, "--workspace", str(root), *args], capture_output=True,
                              text=True, timeout=120, env=cli_env({**ENV, **(env or {})}), stdin=subprocess.DEVNULL,
                              pass_fds=(write_end,))
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as reader:
        return done, set(reader.read().split())


def both_paths(root, *args: str) -> tuple[subprocess.CompletedProcess, ...]:
    return oboto(root, *args), oboto(root, *args, env=COLD)


def test_run_with_a_runner_needs_neither_litellm_nor_chroma(workspace, daemon, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="warm answer"))
    done, loaded = modules_loaded_by(workspace.root, "run", "hello")
    assert (done.returncode, done.stdout) == (0, "warm answer\n"), done.stderr
    assert loaded == set()


def test_memory_commands_with_a_runner_load_no_vector_store(workspace, daemon) -> None:
    added, loaded = modules_loaded_by(workspace.root, "memory", "add", "the build uses ninja", "--json")
    assert added.returncode == 0, added.stderr
    assert orjson.loads(added.stdout)["text"] == "the build uses ninja"
    assert loaded == set()
    found, loaded = modules_loaded_by(workspace.root, "memory", "search", "which build tool")
    assert found.returncode == 0 and "the build uses ninja" in found.stdout
    assert loaded == set()


def test_run_prints_and_exits_the_same_on_both_paths(workspace, daemon, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="the same answer"))
    warm, cold = both_paths(workspace.root, "run", "hello")
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr) == (
        0, "the same answer\n", "")
    warm, cold = both_paths(workspace.root, "run", "hello", "--json")
    warm_json, cold_json = orjson.loads(warm.stdout), orjson.loads(cold.stdout)
    assert warm_json == cold_json and warm_json["answer"] == "the same answer" and warm.returncode == 0
    piped = oboto(workspace.root, "run", "-", input="a prompt from a pipe")
    assert (piped.returncode, piped.stdout) == (0, "the same answer\n")
    assert llm_env.requests[-1]["messages"][-1]["content"] == "a prompt from a pipe"


def test_failures_and_bad_input_exit_the_same_on_both_paths(workspace, daemon, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(fault="401"))
    warm, cold = both_paths(workspace.root, "run", "hello", "--json")
    assert warm.returncode == cold.returncode == 1
    assert orjson.loads(warm.stdout) == orjson.loads(cold.stdout)
    warm, cold = both_paths(workspace.root, "run", "hi", "--conversation", "Bad Name!")
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert warm.returncode == 2 and warm.stderr.startswith("oboto: ")
    warm, cold = both_paths(workspace.root, "memory", "search", "   ")
    assert (warm.returncode, warm.stderr) == (cold.returncode, cold.stderr) and warm.returncode == 2


def test_memory_and_task_output_is_the_same_on_both_paths(workspace, daemon, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="task done"))
    assert oboto(workspace.root, "memory", "add", "deploys happen on tuesdays").returncode == 0
    warm, cold = both_paths(workspace.root, "memory", "search", "when do deploys happen", "--json")
    assert warm.returncode == cold.returncode == 0 and orjson.loads(warm.stdout) == orjson.loads(cold.stdout)
    warm, cold = both_paths(workspace.root, "memory", "list")
    assert (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout)
    spawned = oboto(workspace.root, "tasks", "spawn", "summarise", "--query", "Summarise.", "--wait", "--json")
    assert spawned.returncode == 0, spawned.stderr
    record = orjson.loads(spawned.stdout)
    assert (record["status"], record["result"]) == ("completed", "task done")
    cold = oboto(workspace.root, "tasks", "spawn", "summarise", "--query", "Summarise.", "--wait", "--json", env=COLD)
    assert {key for key in orjson.loads(cold.stdout)} == set(record)


def test_a_runner_started_with_other_settings_leaves_the_work_to_the_command(workspace, daemon,
                                                                             llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="answered here"))
    done, loaded = modules_loaded_by(workspace.root, "run", "hello", env={"OBOTO_AGENT__PERSONA": "someone else"})
    assert (done.returncode, done.stdout) == (0, "answered here\n")
    assert "litellm" in loaded, "the command did its own work"


def test_ctrl_c_on_the_client_cancels_the_turn_in_the_runner(workspace, daemon, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow " * 50, delay=30))
    asked = len(llm_env.requests)
    client = oboto_process(workspace.root, "run", "take your time", env=ENV)
    wait_until(lambda: len(llm_env.requests) > asked, timeout=30)
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=15) == 130
    assert "cancelled" in client.stderr.read()
    assert daemon.poll() is None, "the runner goes on"


def test_the_socket_is_private_and_in_a_private_folder(workspace, daemon) -> None:
    assert stat.S_ISSOCK(os.lstat(workspace.runner_socket).st_mode)
    assert stat.S_IMODE(os.lstat(workspace.runner_socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(workspace.state_dir).st_mode) == 0o700


def test_without_a_runner_commands_do_their_own_work(tmp_path: Path, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="no runner here"))
    done = oboto(tmp_path, "run", "hello")
    assert (done.returncode, done.stdout) == (0, "no runner here\n")
    assert not os.path.lexists(tmp_path / ".oboto" / "runner.sock")


def test_a_served_command_prints_to_its_client_even_after_sys_stdout_was_swapped(workspace) -> None:
    """The TUI is a runner too, and Textual replaces sys.stdout and sys.stderr with its print capture while it runs."""
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    from oboto.commands.warm import command_handler
    from oboto.services.command_socket import CommandRequest

    def main(argv, *, workspace: str) -> int:
        print("to the client")
        print("a problem", file=sys.stderr)
        return 3

    handle = command_handler(main)
    captured = StringIO()
    stdin_read, stdin_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    os.close(stdin_write)
    request = CommandRequest(argv=["run", "hi"], workspace=str(workspace.root), environment="",
                             streams=(stdin_read, out_write, err_write))
    with redirect_stdout(captured), redirect_stderr(captured):
        code = handle(request)
    for descriptor in (stdin_read, out_write, err_write):
        os.close(descriptor)
    with os.fdopen(out_read) as out, os.fdopen(err_read) as err:
        assert (code, out.read(), err.read()) == (3, "to the client\n", "a problem\n")
    assert captured.getvalue() == ""


def test_the_warm_client_loads_neither_pydantic_nor_the_event_models(tmp_path: Path) -> None:
    """Handing a command to the runner must start about as fast as `--help`: what the client imports to find and
    check the runner (its lock, the socket's protocol, the peer's credentials) is stdlib only."""
    code = ("import sys, pathlib; from oboto.commands import warm; "
            "warm._connect_to_runner(pathlib.Path(sys.argv[1])); "
            "from oboto.core.runner_protocol import PROTOCOL, environment_fingerprint, peer_credentials; "
            "print(sorted(m for m in ('pydantic', 'oboto.core.events', 'asyncio') if m in sys.modules))")
    (tmp_path / ".oboto").mkdir()
    ProcessLock(tmp_path / ".oboto" / "runner.lock")  # no holder: the client looks, finds none, and stops there
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stderr
