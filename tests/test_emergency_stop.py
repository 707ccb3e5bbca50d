"""`oboto stop` with a daemon running three slow tasks, a schedule and the loop; a restart; `oboto resume`."""

from __future__ import annotations

import signal

import orjson

from cli_helpers import oboto, oboto_process
from oboto.core.locks import ProcessLock
from oboto.testing import Reply, ScriptedLLM, wait_until


def record(workspace, task_id: str) -> dict:
    return orjson.loads(workspace.task_record(task_id).read_bytes())


def schedules(workspace) -> dict[str, dict]:
    return {item["id"]: item for item in orjson.loads(workspace.schedules.read_bytes())["schedules"]}


def loop_state(workspace) -> dict:
    return orjson.loads(workspace.agent_loop.read_bytes())


def start_daemon(workspace):
    process = oboto_process(workspace.root, "daemon")
    wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == process.pid, timeout=30)
    return process


def stop_daemon(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_stop_cancels_and_pauses_everything_and_resume_undoes_exactly_that(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=60))
    daemon = start_daemon(workspace)
    try:
        tasks = [oboto(workspace.root, "tasks", "spawn", f"slow {n}", "--query", "slow job").stdout.strip()
                 for n in range(3)]
        wait_until(lambda: all(record(workspace, task_id)["status"] == "running" for task_id in tasks), timeout=20)
        active = oboto(workspace.root, "schedules", "create", "--name", "hourly", "--query", "q", "--every", "1h",
                       "--json")
        kept_paused = oboto(workspace.root, "schedules", "create", "--name", "mine", "--query", "q", "--every", "1h",
                            "--json")
        active_id, paused_id = orjson.loads(active.stdout)["id"], orjson.loads(kept_paused.stdout)["id"]
        assert oboto(workspace.root, "schedules", "pause", paused_id).returncode == 0
        assert oboto(workspace.root, "loop", "play", "--interval", "3600").returncode == 0

        stopped = oboto(workspace.root, "stop", "--json")
        assert stopped.returncode == 0, stopped.stderr
        report = orjson.loads(stopped.stdout)
        assert set(report["tasks"]) >= set(tasks) and report["schedules"] == [active_id] and report["loop"]
        # The daemon acts on the requests: the 60 s replies never finish, the agents are cancelled.
        wait_until(lambda: all(record(workspace, task_id)["status"] == "cancelled" for task_id in tasks), timeout=20)
        assert all("emergency stop" in record(workspace, task_id)["error"] for task_id in tasks)
        assert schedules(workspace)[active_id]["status"] == "paused"
        assert schedules(workspace)[active_id]["paused_reason"] == "emergency stop"
        assert loop_state(workspace)["state"] == "paused" and loop_state(workspace)["paused_reason"] == "emergency stop"
    finally:
        stop_daemon(daemon)

    restarted = start_daemon(workspace)
    try:
        # A restart resumes nothing.
        assert schedules(workspace)[active_id]["status"] == "paused"
        assert loop_state(workspace)["state"] == "paused"
        resumed = oboto(workspace.root, "resume", "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert orjson.loads(resumed.stdout)["schedules"] == [active_id]
        assert schedules(workspace)[active_id]["status"] == "active"
        assert schedules(workspace)[paused_id]["status"] == "paused", "a schedule the person paused stays paused"
        assert loop_state(workspace)["state"] == "playing"
        assert all(record(workspace, task_id)["status"] == "cancelled" for task_id in tasks)
        again = oboto(workspace.root, "resume")
        assert again.returncode == 0 and "nothing to resume" in again.stdout
    finally:
        stop_daemon(restarted)


def test_tasks_cancel_all_cancels_every_queued_and_running_task(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="slow", delay=60))
    daemon = start_daemon(workspace)
    try:
        tasks = [oboto(workspace.root, "tasks", "spawn", f"slow {n}", "--query", "slow job").stdout.strip()
                 for n in range(5)]  # 3 run, 2 queue
        wait_until(lambda: sum(record(workspace, t)["status"] == "running" for t in tasks) == 3, timeout=20)
        result = oboto(workspace.root, "tasks", "cancel", "--all")
        assert result.returncode == 0, result.stderr
        assert "5" in result.stdout
        wait_until(lambda: all(record(workspace, t)["status"] == "cancelled" for t in tasks), timeout=20)
    finally:
        stop_daemon(daemon)
