"""Scheduled runs stay in their schedule's history; only failures post a notice into chat, unless
`[schedules] notify` or the schedule itself says always or never."""

from __future__ import annotations

import orjson
import pytest

from cli_helpers import oboto
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, async_wait_until
from runtime_helpers import runner


def notices(runtime: Runtime) -> list[str]:
    return [message.content for message in runtime.conversations.messages("chat") if message.marker == "task-notice"]


async def run_once(runtime: Runtime, schedule_id: str) -> str:
    """Trigger one run of the schedule and wait until its ending has been dealt with (noticed or not)."""
    task_id = runtime.scheduler.trigger_now(schedule_id).task_id
    assert task_id is not None
    await async_wait_until(lambda: runtime.tasks.get(task_id).notice_posted, timeout=20)
    return task_id


@pytest.fixture
def answers(llm_env: ScriptedLLM) -> ScriptedLLM:
    llm_env.respond_with(lambda request: Reply(fault="401") if "fail" in request["messages"][-1]["content"]
                         else Reply(text="all quiet"))
    return llm_env


async def test_by_default_only_failed_runs_post_a_notice(workspace, answers) -> None:
    async with runner(workspace) as runtime:
        quiet = runtime.scheduler.create("watch", "look around", interval_seconds=3600)
        failing = runtime.scheduler.create("breaks", "please fail", interval_seconds=3600)
        ok_run = await run_once(runtime, quiet.id)
        failed_run = await run_once(runtime, failing.id)
        assert runtime.tasks.get(ok_run).status == "completed" and runtime.tasks.get(failed_run).status == "failed"
        posted = notices(runtime)
        assert len(posted) == 1 and failed_run in posted[0] and ok_run not in posted[0]
        kept = runtime.scheduler.get(quiet.id)
        assert kept.recent_task_ids == [ok_run] and kept.last_result == "completed: all quiet"
        spawned = runtime.tasks.spawn("by hand", "look around")
        await async_wait_until(lambda: runtime.tasks.get(spawned.id).notice_posted, timeout=20)
        assert any(spawned.id in text for text in notices(runtime)), "tasks not run by a schedule still report"
        flags = [message.scheduled for message in runtime.conversations.messages("chat")
                 if message.marker == "task-notice"]
        assert flags == [True, None], "a scheduled run's notice says so (retention archives only those)"


async def test_notify_always_reports_every_run(workspace, answers) -> None:
    async with runner(workspace, schedules={"notify": "always"}) as runtime:
        schedule = runtime.scheduler.create("watch", "look around", interval_seconds=3600)
        task_id = await run_once(runtime, schedule.id)
        assert any(task_id in text for text in notices(runtime))


async def test_a_schedule_s_own_setting_wins_over_the_workspace_s(workspace, answers) -> None:
    async with runner(workspace, schedules={"notify": "always"}) as runtime:
        silent = runtime.scheduler.create("breaks", "please fail", interval_seconds=3600, notify="never")
        loud = runtime.scheduler.create("watch", "look around", interval_seconds=3600)
        runtime.scheduler.update(loud.id, notify="failures")
        await run_once(runtime, silent.id)
        await run_once(runtime, loud.id)
        assert notices(runtime) == [], "never: not even a failure; failures: not a completed run"


def test_the_setting_and_the_cli_options(workspace) -> None:
    (workspace.root / ".oboto" / "config.toml").write_text('[schedules]\nnotify = "sometimes"\n')
    bad = oboto(workspace.root, "schedules", "list")
    assert "schedules.notify" in bad.stderr, "a bad value is reported and the file ignored"
    (workspace.root / ".oboto" / "config.toml").write_text('[schedules]\nnotify = "never"\n')
    created = oboto(workspace.root, "schedules", "create", "--name", "n", "--query", "q", "--every", "1h",
                    "--notify", "always", "--json")
    assert created.returncode == 0, created.stderr
    schedule_id = orjson.loads(created.stdout)["id"]
    shown = oboto(workspace.root, "schedules", "show", schedule_id)
    assert "notices:     always" in shown.stdout
    edited = oboto(workspace.root, "schedules", "edit", schedule_id, "--notify", "default")
    assert edited.returncode == 0
    assert "notices:     as [schedules] notify says" in oboto(workspace.root, "schedules", "show", schedule_id).stdout
