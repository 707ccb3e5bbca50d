"""Finding 6 replayed for numbers and pipes: huge, negative, zero, NaN and infinite numbers in CLI flags, tool
arguments and config values gave tracebacks or raw OverflowError text; a listing piped into `head` printed a
BrokenPipeError traceback. Now each is refused with a clear message (exit 2, a tool's error result, a config
warning), and a closed pipe ends the command quietly."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys

import orjson
import pytest

from oboto import cli
from oboto.core.config import ConfigProblem, load_settings
from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime

HUGE = "99999999999999999999999"


def run_cli(workspace: WorkspacePaths, *argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--workspace", str(workspace.root), *argv])
        except SystemExit as exit:  # argparse's own usage errors
            code = exit.code
    return code, err.getvalue()


SCHEDULE = ("schedules", "create", "--name", "n", "--query", "q")


@pytest.mark.parametrize("argv,reason", [
    ((*SCHEDULE, "--every", "30m", "--max-runs", HUGE), "is too large (at most 1000000000)"),
    ((*SCHEDULE, "--every", "99999999999999999999d"), "is too long; the maximum is 366 days"),
    ((*SCHEDULE, "--every", "1e308"), "'1e308' is not a duration"),
    ((*SCHEDULE, "--every", "nan"), "'nan' is not a duration"),
    ((*SCHEDULE, "--every", "inf"), "'inf' is not a duration"),
    ((*SCHEDULE, "--every", "0"), "the interval must be positive"),
    ((*SCHEDULE, "--every", "5s"), "the minimum is 10 seconds"),
    ((*SCHEDULE, "--every", "30m", "--max-runs", "0"), "'0' must be 1 or more"),
    ((*SCHEDULE, "--every", "30m", "--max-runs", "-3"), "'-3' must be 1 or more"),
    (("loop", "play", "--interval", HUGE), "is too long (at most 100 years"),
    (("loop", "play", "--interval", "1e308"), "is too long (at most 100 years"),
    (("loop", "play", "--interval", "nan"), "'nan' must be a positive number of seconds"),
    (("loop", "play", "--interval", "-1"), "'-1' must be a positive number of seconds"),
    (("loop", "play", "--interval", "9e6"), "the interval must be at most 2.592e+06 seconds (30 days)"),
    (("loop", "interval", "0"), "'0' must be a positive number of seconds"),
    (("tasks", "wait", "t-12345678", "--timeout", HUGE), "is too long (at most 100 years"),
    (("tasks", "wait", "t-12345678", "--timeout", "inf"), "'inf' must be a positive number of seconds"),
    (("tasks", "output", "t-12345678", "--tail", HUGE), "is too large (at most 1000000000)"),
    (("events", "--tail", "0"), "'0' must be 1 or more"),
    (("conversations", "show", "chat", "--tail", HUGE), "is too large"),
    (("memory", "list", "--limit", HUGE), "is too large"),
    (("memory", "search", "x", "-k", HUGE), "is too large"),
    (("memory", "search", "x", "-k", "51"), "is more than 50"),
    (("audit", "--since", "99999999999999999999d"), "reaches back more than 100 years"),
])
def test_bad_numbers_on_the_command_line_are_refused_in_one_line(
    workspace: WorkspacePaths, argv: tuple[str, ...], reason: str
) -> None:
    code, err = run_cli(workspace, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("oboto: ") and reason in err, err


@pytest.mark.parametrize("tool,arguments,reason", [
    ("create_recurring_task", {"interval_seconds": 1e308}, "is too long; the maximum is 366 days"),
    ("create_recurring_task", {"interval_seconds": math.nan}, "finite number"),
    ("create_recurring_task", {"interval_seconds": math.inf}, "finite number"),
    ("create_recurring_task", {"interval_seconds": -30}, "must be positive"),
    ("create_recurring_task", {"interval_seconds": "99999999999999999999d"}, "is too long"),
    ("create_recurring_task", {"interval_minutes": 1e306}, "is too long"),
    ("create_recurring_task", {"interval_seconds": 60, "max_runs": 10**30}, "run limit must be at most 1000000000"),
    ("create_recurring_task", {"interval_seconds": 60, "max_runs": 0}, "run limit must be 1 or more"),
    ("wait_for_task", {"task_id": "t-12345678", "timeout_seconds": 1e308}, "less than or equal to 3600"),
    ("wait_for_task", {"task_id": "t-12345678", "timeout_seconds": math.nan}, "timeout_seconds"),
    ("run_command", {"command": "true", "timeout_seconds": math.inf}, "less than or equal to 3600"),
    ("read_file", {"path": "x", "max_lines": 10**30}, "less than or equal to 100000"),
    ("recall", {"query": "x", "k": -1}, "greater than or equal to 1"),
])
async def test_bad_numbers_in_tool_arguments_are_a_clear_error_result(
    workspace: WorkspacePaths, tool: str, arguments: dict, reason: str
) -> None:
    runtime = Runtime.open(workspace.root, permissions={"mode": "full"})
    if tool == "create_recurring_task":
        arguments = {"name": "n", "query": "q", **arguments}
    result = await runtime.tools.execute(tool, arguments, runtime.tool_context(conversation="chat"))
    assert not result.ok and result.content.startswith("Error: ") and reason in result.content, result.content
    assert "Traceback" not in result.content and "OverflowError" not in result.content
    assert runtime.scheduler.list() == []


@pytest.mark.parametrize("table,value,where", [
    ("llm", "timeout_seconds = inf", "llm.timeout_seconds: Input should be a finite number"),
    ("tasks", "timeout_seconds = nan", "tasks.timeout_seconds: Input should be a finite number"),
    ("checkpoints", "retention_days = 1e308", "checkpoints.retention_days: Input should be less than or equal"),
    ("loop", "interval_seconds = 99999999999", "loop.interval_seconds: Input should be less than or equal"),
    ("agent", f"token_budget = {HUGE}", "agent.token_budget"),
    ("tasks", "max_concurrent = -1", "tasks.max_concurrent: Input should be greater than or equal to 1"),
])
def test_bad_numbers_in_config_toml_are_named_and_the_file_moved_aside(
    workspace: WorkspacePaths, table: str, value: str, where: str
) -> None:
    workspace.config.write_text(f"[{table}]\n{value}\n")
    settings, warnings = load_settings(workspace)
    assert len(warnings) == 1 and where in warnings[0] and "it was moved to" in warnings[0]
    assert settings.model_dump() == load_settings(None)[0].model_dump(), "the defaults apply meanwhile"


@pytest.mark.parametrize("variable,value", [
    ("OBOTO_TASKS__TIMEOUT_SECONDS", "nan"), ("OBOTO_LLM__TIMEOUT_SECONDS", "inf"),
    ("OBOTO_TASKS__MAX_CONCURRENT", HUGE), ("OBOTO_EVENTS__MAX_BYTES", "-5"),
])
def test_bad_numbers_in_the_environment_are_bad_usage(
    workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigProblem, match=variable):
        load_settings(workspace)
    code, err = run_cli(workspace, "tasks", "list")
    assert code == 2 and err.count("\n") == 1 and variable in err, err


def test_a_closed_pipe_ends_a_listing_quietly(workspace: WorkspacePaths) -> None:
    """`oboto events | head -1` with a real pipe: head exits after one line, oboto must not print a traceback."""
    record = orjson.dumps({"type": "workspace:warning", "at": "2026-01-01T00:00:00+00:00", "message": "x" * 200})
    workspace.events.write_bytes((record + b"\n") * 20_000)
    oboto = subprocess.Popen([sys.executable, "-m", "oboto", "--workspace", str(workspace.root), "events"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    head = subprocess.run(["head", "-1"], stdin=oboto.stdout, capture_output=True, timeout=60)
    assert oboto.stdout is not None
    oboto.stdout.close()  # only head holds the read end now, as in a shell pipeline
    _out, err = oboto.communicate(timeout=60)
    assert head.stdout.decode().count("\n") == 1 and "workspace:warning" in head.stdout.decode()
    assert err == b"", err.decode()
    assert oboto.returncode == 141, "128 + SIGPIPE, as `git log | head` reports it"
