"""The runner across processes: a daemon executes CLI requests, survives kill -9, and never double-fires."""

from __future__ import annotations

import signal
import socket
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from cli_helpers import oboto, oboto_process
from oboto.core.locks import ProcessLock
from oboto.testing import Reply, ScriptedLLM, wait_until


def last_user_text(request: dict) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


def task(workspace, task_id: str) -> dict:
    return orjson.loads(workspace.task_record(task_id).read_bytes())


def schedules(workspace) -> list[dict]:
    return orjson.loads(workspace.schedules.read_bytes())["schedules"]


def set_next_run(workspace, when: datetime) -> None:
    document = orjson.loads(workspace.schedules.read_bytes())
    document["schedules"][0]["next_run_at"] = when.isoformat()
    workspace.schedules.write_bytes(orjson.dumps(document))


def fired_events(workspace) -> list[dict]:
    return [orjson.loads(line) for line in workspace.events.read_bytes().splitlines() if b'"schedule:fired"' in line]


def start_daemon(workspace):
    process = oboto_process(workspace.root, "daemon")
    wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == process.pid, timeout=20)
    return process


def stop(process, sig=signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=20)


@pytest.fixture
def slow_or_fast(llm_env: ScriptedLLM) -> ScriptedLLM:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=30) if "slow job" in last_user_text(request)
                         else Reply(text="quick result"))
    return llm_env


def test_cli_requests_are_executed_by_the_daemon_within_a_second(workspace, slow_or_fast) -> None:
    daemon = start_daemon(workspace)
    try:
        # A first task loads litellm in the daemon (seconds on a loaded machine); the waits below time the requests.
        warm = oboto(workspace.root, "tasks", "spawn", "warm", "--query", "warm up").stdout.strip()
        wait_until(lambda: task(workspace, warm)["status"] == "completed", timeout=120)
        quick = oboto(workspace.root, "tasks", "spawn", "quick", "--query", "quick job").stdout.strip()
        slow = oboto(workspace.root, "tasks", "spawn", "slow", "--query", "slow job").stdout.strip()
        wait_until(lambda: task(workspace, quick)["status"] == "completed", timeout=5)
        wait_until(lambda: task(workspace, slow)["status"] == "running", timeout=2)
        assert oboto(workspace.root, "tasks", "cancel", slow).returncode == 0
        # The slow reply would take 30 s: being cancelled within the wait proves the runner acted on the request.
        wait_until(lambda: task(workspace, slow)["status"] == "cancelled", timeout=5)
        waited = oboto(workspace.root, "tasks", "wait", quick, "--json")
        assert waited.returncode == 0 and orjson.loads(waited.stdout)["result"] == "quick result"
    finally:
        assert stop(daemon) == 0


def test_sigterm_stops_gracefully_and_records_running_tasks_as_interrupted(workspace, slow_or_fast) -> None:
    daemon = start_daemon(workspace)
    slow = oboto(workspace.root, "tasks", "spawn", "slow", "--query", "slow job").stdout.strip()
    wait_until(lambda: task(workspace, slow)["status"] == "running", timeout=3)
    assert stop(daemon) == 0
    record = task(workspace, slow)
    assert record["status"] == "interrupted" and "runner stopped" in record["error"]
    assert ProcessLock(workspace.runner_lock).holder_pid() is None


def test_sigterm_ends_the_daemon_promptly_even_when_stopping_meets_work_it_cannot_interrupt(
        workspace, slow_or_fast) -> None:
    """The running task's episode goes to an embedding endpoint that accepts and never answers, as a model
    still loading would: stopping does not wait for it (nothing here is timed but the generous bound)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        daemon = oboto_process(workspace.root, "daemon", env={"OBOTO_EMBEDDING_MODEL": "openai/text-embedding-3-small",
                                                               "OBOTO_MEMORY__EMBEDDING_API_BASE": endpoint})
        wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == daemon.pid, timeout=20)
        slow = oboto(workspace.root, "tasks", "spawn", "slow", "--query", "slow job").stdout.strip()
        slow_or_fast.wait_for_requests(1, timeout=120)  # the model call is under way
        daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=15)
        finally:
            daemon.kill()
        assert code == 0, daemon.stderr.read()
        assert task(workspace, slow)["status"] == "interrupted"
        assert "were not yet remembered" in daemon.stderr.read(), "the episode that could not be stored is named"


def test_kill_9_then_restart_interrupts_tasks_and_keeps_the_schedule_time(workspace, slow_or_fast) -> None:
    daemon = start_daemon(workspace)
    slow = oboto(workspace.root, "tasks", "spawn", "slow", "--query", "slow job").stdout.strip()
    wait_until(lambda: task(workspace, slow)["status"] == "running", timeout=3)
    created = oboto(workspace.root, "schedules", "create", "--name", "hourly", "--query", "scheduled job", "--every", "1h")
    assert created.returncode == 0, created.stderr
    stop(daemon, signal.SIGKILL)
    assert task(workspace, slow)["status"] == "running", "kill -9 leaves the record as it was"
    due = datetime.now(timezone.utc) + timedelta(seconds=3)
    set_next_run(workspace, due)
    restarted = start_daemon(workspace)
    try:
        wait_until(lambda: task(workspace, slow)["status"] == "interrupted", timeout=5)
        assert str(daemon.pid) in task(workspace, slow)["error"]
        wait_until(lambda: schedules(workspace)[0]["run_count"] == 1, timeout=15)
        fired = datetime.fromisoformat(schedules(workspace)[0]["last_run_at"])
        # Not before its persisted time, and not an interval (an hour) after the restart.
        assert due - timedelta(seconds=0.1) <= fired <= due + timedelta(seconds=10), "fires at its persisted time"
        spawned = task(workspace, schedules(workspace)[0]["last_task_id"])
        assert spawned["origin"] == "schedule"
    finally:
        assert stop(restarted) == 0


def test_two_processes_never_fire_the_same_schedule_twice(workspace, slow_or_fast) -> None:
    first = start_daemon(workspace)
    second = oboto_process(workspace.root, "daemon")
    try:
        created = oboto(workspace.root, "schedules", "create", "--name", "often", "--query", "scheduled job",
                        "--every", "10s")
        assert created.returncode == 0, created.stderr
        set_next_run(workspace, datetime.now(timezone.utc) + timedelta(seconds=1))
        wait_until(lambda: schedules(workspace)[0]["run_count"] == 1, timeout=10)
        # The event is published just after the document is written; kill only once it is in the log.
        wait_until(lambda: len(fired_events(workspace)) == 1, timeout=5)
        stop(first, signal.SIGKILL)
        wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == second.pid, timeout=10)
        wait_until(lambda: schedules(workspace)[0]["run_count"] == 2, timeout=20)
        time.sleep(1)
        schedule = schedules(workspace)[0]
        fired = fired_events(workspace)
        assert schedule["run_count"] == 2 and len(fired) == 2
        assert len({event["task_id"] for event in fired}) == 2
        spawned = [path for path in workspace.tasks_dir.glob("t-*.json")
                   if orjson.loads(path.read_bytes()).get("schedule_id") == schedule["id"]]
        assert len(spawned) == 2
    finally:
        stop(first, signal.SIGKILL)
        assert stop(second) == 0


@pytest.mark.parametrize("args,reason", [
    (("tasks", "status", "t-00000000"), "no task with id"),
    (("tasks", "cancel", "nonsense"), "not a task id"),
    (("tasks", "output", "../x"), "not a task id"),
    (("tasks", "wait", "t-00000000", "--timeout", "-1"), "positive number"),
    (("tasks", "spawn", "x", "--query", "q", "--conversation", "ghost"), "no conversation named"),
])
def test_bad_task_input_exits_2(workspace, args, reason: str) -> None:
    result = oboto(workspace.root, *args)
    assert result.returncode == 2 and reason in result.stderr


def test_spawn_wait_without_a_runner_runs_the_task_itself(workspace, slow_or_fast) -> None:
    result = oboto(workspace.root, "tasks", "spawn", "quick", "--query", "quick job", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["status"] == "completed"
    assert ProcessLock(workspace.runner_lock).holder_pid() is None


def test_events_command_prints_the_log(workspace, slow_or_fast) -> None:
    oboto(workspace.root, "tasks", "spawn", "quick", "--query", "quick job", "--wait")
    result = oboto(workspace.root, "events", "--json")
    kinds = [orjson.loads(line)["type"] for line in result.stdout.splitlines()]
    assert "task:queued" in kinds and "task:finished" in kinds
    plain = oboto(workspace.root, "events", "--tail", "1")
    assert plain.returncode == 0 and len(plain.stdout.splitlines()) == 1
