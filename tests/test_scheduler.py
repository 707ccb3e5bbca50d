"""SchedulerService: validation, firing, restart, coalescing, auto-pause, skips, reload, quarantine, scale.

Time is made fast by writing `next_run_at` into `.oboto/schedules.json` the way a person or another
process would, then telling the runner the file changed (what its watchfiles watcher does).
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from croniter import croniter

from oboto.core import durable
from oboto.core.atomic import atomic_write_json
from oboto.core.durations import DurationError, parse_duration
from oboto.core.events import FileQuarantined
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.services.runtime import Runtime
from oboto.services.schedule_models import ScheduleError, check_interval
from oboto.services.task_models import ACTIVE_STATUSES
from oboto.testing import Reply, ScriptedLLM, async_wait_until


def edit_schedules(paths: WorkspacePaths, edit: Any) -> None:
    """Change schedules.json as a person or another process would: `edit(list of schedule dicts)`."""
    with locked(paths.schedules):
        document = orjson.loads(paths.schedules.read_bytes())
        edit(document["schedules"])
        atomic_write_json(paths.schedules, document)


def set_field(paths: WorkspacePaths, schedule_id: str, **values: Any) -> None:
    def edit(schedules: list[dict]) -> None:
        entry = next(item for item in schedules if item["id"] == schedule_id)
        for key, value in values.items():
            entry[key] = value.isoformat() if isinstance(value, datetime) else value

    edit_schedules(paths, edit)


def events_of(paths: WorkspacePaths, kind: str) -> list[dict]:
    lines = paths.events.read_bytes().splitlines() if paths.events.exists() else []
    return [record for record in map(orjson.loads, lines) if record["type"] == kind]


def schedule_tasks(runtime: Runtime, schedule_id: str) -> list:
    return [record for record in runtime.tasks.list() if record.schedule_id == schedule_id]


async def settle(runtime: Runtime) -> None:
    """Let the spawned runs finish, so the runner stops with nothing in flight."""
    await async_wait_until(lambda: not runtime.tasks.list(ACTIVE_STATUSES))


def near(moment: datetime | None, expected: datetime, tolerance: float = 2.0) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) <= tolerance


# ----- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("interval", "message"), [
    (0, "must be positive"),
    (-5, "must be positive"),
    (math.nan, "finite"),
    (math.inf, "finite"),
    ("abc", "must be a number of seconds"),
    ("inf", "must be a number of seconds"),
    (True, "must be a number of seconds"),
    (9, "too short; the minimum is 10 seconds"),
])
def test_bad_intervals_are_refused_with_a_clear_message(runtime: Runtime, interval: Any, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        runtime.scheduler.create("check", "look around", interval_seconds=interval)
    assert runtime.scheduler.list() == []


@pytest.mark.parametrize(("cron", "message"), [
    ("61 * * * *", "not a valid cron expression"),
    ("every five minutes", "must have 5 fields"),
    ("* * * * * *", "must have 5 fields"),
    ("", "must have 5 fields"),
])
def test_bad_cron_strings_are_refused(runtime: Runtime, cron: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        runtime.scheduler.create("check", "look around", cron=cron)


def test_both_or_neither_cadence_and_empty_text_are_refused(runtime: Runtime) -> None:
    scheduler = runtime.scheduler
    with pytest.raises(ScheduleError, match="not both"):
        scheduler.create("check", "look", interval_seconds=60, cron="*/5 * * * *")
    with pytest.raises(ScheduleError, match="needs an interval .* or a 5-field cron"):
        scheduler.create("check", "look")
    with pytest.raises(ScheduleError, match="non-empty name"):
        scheduler.create("  ", "look", interval_seconds=60)
    with pytest.raises(ScheduleError, match="non-empty query"):
        scheduler.create("check", "", interval_seconds=60)
    with pytest.raises(ScheduleError, match="the run limit must be 1 or more"):
        scheduler.create("check", "look", interval_seconds=60, max_runs=0)


def test_parse_duration_reads_units_and_refuses_nonsense() -> None:
    assert [parse_duration(text) for text in ("30m", "90s", "2h", "1d", "45", "1.5h")] == [
        1800, 90, 7200, 86400, 45, 5400]
    for bad in ("abc", "inf", "nan", "-5", "5 minutes", ""):
        with pytest.raises(DurationError, match="not a duration"):
            parse_duration(bad)
    for short in ("0", "9s"):
        with pytest.raises(ScheduleError, match="minimum is 10 seconds"):
            check_interval(parse_duration(short))


def test_create_persists_a_versioned_document_with_the_first_due_time(runtime: Runtime) -> None:
    before = utc_now()
    every = runtime.scheduler.create("tidy", "tidy up", interval_seconds=1800, tags=["chores"])
    cron = runtime.scheduler.create("standup", "summarise", cron="0 9 * * 1-5", max_runs=3)
    document = orjson.loads(runtime.paths.schedules.read_bytes())
    assert document["version"] == 1
    stored = {item["id"]: item for item in document["schedules"]}
    assert stored[every.id]["interval_seconds"] == 1800 and stored[every.id]["tags"] == ["chores"]
    assert stored[every.id]["status"] == "active" and stored[every.id]["run_count"] == 0
    assert near(every.next_run_at, before + timedelta(seconds=1800))
    expected = croniter("0 9 * * 1-5", before.astimezone()).get_next(datetime).astimezone(timezone.utc)
    assert cron.next_run_at == expected and stored[cron.id]["max_runs"] == 3
    assert [schedule.id for schedule in runtime.scheduler.list()] == [every.id, cron.id]


def test_update_validates_and_switching_cadence_replans_from_now(runtime: Runtime) -> None:
    schedule = runtime.scheduler.create("tidy", "tidy up", interval_seconds=3600)
    with pytest.raises(ScheduleError, match="too short"):
        runtime.scheduler.update(schedule.id, interval_seconds=5)
    with pytest.raises(ScheduleError, match="cannot change run_count"):
        runtime.scheduler.update(schedule.id, run_count=7)
    updated = runtime.scheduler.update(schedule.id, cron="*/5 * * * *")
    assert updated.interval_seconds is None and updated.cron == "*/5 * * * *"
    assert updated.next_run_at is not None and updated.next_run_at < schedule.next_run_at
    assert runtime.scheduler.get(schedule.id).cron == "*/5 * * * *"
    with pytest.raises(ScheduleError, match="no schedule with id s-00000000"):
        runtime.scheduler.pause("s-00000000")
    with pytest.raises(ScheduleError, match="not a schedule id"):
        runtime.scheduler.delete("nonsense")


# ----- firing -------------------------------------------------------------------------------------


async def test_firing_spawns_a_schedule_task_and_updates_the_record(runner_runtime: Runtime) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    schedule = runtime.scheduler.create("tidy", "tidy up the notes", interval_seconds=60, tags=["chores"])
    set_field(paths, schedule.id, next_run_at=utc_now() - timedelta(seconds=1))
    asked = utc_now()
    runtime.scheduler.reload()
    fired = await async_wait_until(lambda: (s := runtime.scheduler.get(schedule.id)).run_count == 1 and s)
    task = runtime.tasks.get(fired.last_task_id)
    assert task.origin == "schedule" and task.schedule_id == schedule.id and task.query == "tidy up the notes"
    assert task.tags[:2] == ["schedule", schedule.id] and "chores" in task.tags
    assert fired.recent_task_ids == [task.id] and asked <= fired.last_run_at <= utc_now()
    assert near(fired.next_run_at, fired.last_run_at + timedelta(seconds=60), 0.01)
    # the firing is committed by the durable writer, and its event published right after the commit
    await async_wait_until(lambda: [event["task_id"] for event in events_of(paths, "schedule:fired")] == [task.id])
    done = await runtime.tasks.wait(task.id, 10)
    assert done.status == "completed"
    await async_wait_until(lambda: runtime.scheduler.get(schedule.id).last_result is not None)
    assert runtime.scheduler.get(schedule.id).last_result.startswith("completed")


async def test_persisted_next_run_at_is_honoured_after_a_restart(workspace: WorkspacePaths, llm_env) -> None:
    first = Runtime.open(workspace.root)
    first.activate_runner()
    schedule = first.scheduler.create("report", "write the report", interval_seconds=3600)
    await first.deactivate_runner("restarting")
    due = utc_now() + timedelta(seconds=1.5)
    set_field(workspace, schedule.id, next_run_at=due)

    second = Runtime.open(workspace.root)
    restarted = utc_now()
    second.activate_runner()
    try:
        fired = await async_wait_until(lambda: (s := second.scheduler.get(schedule.id)).run_count == 1 and s,
                                       timeout=10)
        # at the persisted time: not at once, and not an interval after the restart
        assert (fired.last_run_at - restarted).total_seconds() >= 1.0
        assert fired.last_run_at >= due and (fired.last_run_at - due).total_seconds() < 1.0
        assert near(fired.next_run_at, fired.last_run_at + timedelta(seconds=3600), 0.01)
        await settle(second)
    finally:
        await second.deactivate_runner("the test finished")


async def test_missed_runs_fire_once_then_go_on_from_now(workspace: WorkspacePaths, llm_env) -> None:
    setup = Runtime.open(workspace.root)
    schedule = setup.scheduler.create("poll", "check the queue", interval_seconds=60)
    set_field(workspace, schedule.id, next_run_at=utc_now() - timedelta(hours=1))
    runtime = Runtime.open(workspace.root)
    runtime.activate_runner()
    try:
        fired = await async_wait_until(lambda: (s := runtime.scheduler.get(schedule.id)).run_count >= 1 and s)
        await runtime.tasks.wait(fired.last_task_id, 10)
        after = runtime.scheduler.get(schedule.id)
        assert after.run_count == 1 and len(schedule_tasks(runtime, schedule.id)) == 1
        assert near(after.next_run_at, utc_now() + timedelta(seconds=60))
    finally:
        await runtime.deactivate_runner("the test finished")


async def test_reaching_max_runs_pauses_with_the_reason(runner_runtime: Runtime) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    schedule = runtime.scheduler.create("twice", "do it", interval_seconds=60, max_runs=2, skip_if_running=False)
    for expected in (1, 2):
        set_field(paths, schedule.id, next_run_at=utc_now() - timedelta(seconds=1))
        runtime.scheduler.reload()
        await async_wait_until(lambda: runtime.scheduler.get(schedule.id).run_count == expected)
    stopped = runtime.scheduler.get(schedule.id)
    assert stopped.status == "paused" and stopped.paused_reason == "reached its run limit (2 runs)"
    assert stopped.next_run_at is None
    await async_wait_until(lambda: any(event["change"] == "paused" and "run limit" in event["reason"]
                                       for event in events_of(paths, "schedule:changed")))
    with pytest.raises(ScheduleError, match="already run 2 of its 2 runs; raise its run limit"):
        runtime.scheduler.resume(schedule.id)
    await settle(runtime)


async def test_five_consecutive_failures_pause_the_schedule(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    llm_env.respond_with(lambda request: Reply(fault="401"))
    schedule = runtime.scheduler.create("flaky", "try it", interval_seconds=3600)
    for attempt in range(1, 6):
        outcome = runtime.scheduler.trigger_now(schedule.id)
        assert outcome.task_id is not None
        assert (await runtime.tasks.wait(outcome.task_id, 10)).status == "failed"
        await async_wait_until(lambda: runtime.scheduler.get(schedule.id).consecutive_failures == attempt)
    paused = runtime.scheduler.get(schedule.id)
    assert paused.status == "paused" and "5 consecutive failed runs" in paused.paused_reason
    assert paused.last_result.startswith("failed")


async def test_a_success_resets_the_failure_count(runner_runtime: Runtime, llm_env: ScriptedLLM) -> None:
    runtime = runner_runtime
    schedule = runtime.scheduler.create("flaky", "try it", interval_seconds=3600)
    llm_env.add(Reply(fault="401"))
    failed = runtime.scheduler.trigger_now(schedule.id).task_id
    await runtime.tasks.wait(failed, 10)
    await async_wait_until(lambda: runtime.scheduler.get(schedule.id).consecutive_failures == 1)
    llm_env.add(Reply(text="all good"))
    succeeded = runtime.scheduler.trigger_now(schedule.id).task_id
    await runtime.tasks.wait(succeeded, 10)
    after = await async_wait_until(lambda: (s := runtime.scheduler.get(schedule.id)).last_result
                                   == "completed: all good" and s)
    assert after.consecutive_failures == 0 and after.status == "active"


async def test_skip_if_running_skips_with_a_reason_and_still_advances(runner_runtime: Runtime,
                                                                       llm_env: ScriptedLLM) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    llm_env.respond_with(lambda request: Reply(text="slow", delay=20))
    schedule = runtime.scheduler.create("long", "take your time", interval_seconds=60)
    first = runtime.scheduler.trigger_now(schedule.id)
    await async_wait_until(lambda: runtime.tasks.get(first.task_id).status == "running")

    again = runtime.scheduler.trigger_now(schedule.id)
    assert again.task_id is None and f"previous run {first.task_id} is still running" in again.skipped_reason

    set_field(paths, schedule.id, next_run_at=utc_now() - timedelta(seconds=1))
    runtime.scheduler.reload()
    await async_wait_until(lambda: len(events_of(paths, "schedule:skipped")) == 2)
    reasons = [event["reason"] for event in events_of(paths, "schedule:skipped")]
    assert all("still running" in reason and first.task_id in reason for reason in reasons)
    after = runtime.scheduler.get(schedule.id)
    assert after.run_count == 1 and near(after.next_run_at, utc_now() + timedelta(seconds=60))
    assert len(schedule_tasks(runtime, schedule.id)) == 1
    runtime.tasks.cancel(first.task_id)
    await settle(runtime)


async def test_trigger_now_on_a_paused_schedule_fires_once_and_stays_paused(runner_runtime: Runtime) -> None:
    runtime = runner_runtime
    schedule = runtime.scheduler.create("manual", "on demand", interval_seconds=3600)
    runtime.scheduler.pause(schedule.id, "only by hand")
    outcome = runtime.scheduler.trigger_now(schedule.id)
    assert outcome.task_id is not None and runtime.tasks.get(outcome.task_id).schedule_id == schedule.id
    after = runtime.scheduler.get(schedule.id)
    assert after.status == "paused" and after.paused_reason == "only by hand" and after.run_count == 1
    assert after.next_run_at is None and len(schedule_tasks(runtime, schedule.id)) == 1
    assert events_of(runtime.paths, "schedule:fired")[-1]["manual"] is True
    await settle(runtime)


async def test_trigger_from_another_process_is_recorded_then_fired_by_the_runner(
        workspace: WorkspacePaths, runner_runtime: Runtime) -> None:
    other = Runtime.open(workspace.root)
    schedule = other.scheduler.create("remote", "from the cli", interval_seconds=3600)
    outcome = other.scheduler.trigger_now(schedule.id)
    assert outcome.deferred and outcome.task_id is None
    assert other.scheduler.get(schedule.id).trigger_requested_at is not None
    runner_runtime.scheduler.reload()
    fired = await async_wait_until(lambda: (s := other.scheduler.get(schedule.id)).run_count == 1 and s)
    assert fired.trigger_requested_at is None and fired.last_task_id is not None
    assert fired.status == "active" and near(fired.next_run_at, schedule.next_run_at, 0.01)
    await settle(runner_runtime)


async def test_a_hand_edit_is_picked_up_by_reload(runner_runtime: Runtime) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    edited = runtime.scheduler.create("edited", "a", interval_seconds=3600)
    stopped = runtime.scheduler.create("stopped", "b", interval_seconds=3600)
    due = runtime.scheduler.create("due", "c", interval_seconds=3600)

    set_field(paths, edited.id, interval_seconds=120)
    runtime.scheduler.reload()
    replanned = runtime.scheduler.get(edited.id)
    assert replanned.interval_seconds == 120 and near(replanned.next_run_at, utc_now() + timedelta(seconds=120))

    past = utc_now() - timedelta(seconds=1)
    set_field(paths, stopped.id, status="paused", next_run_at=past)
    set_field(paths, due.id, next_run_at=past)
    runtime.scheduler.reload()
    await async_wait_until(lambda: runtime.scheduler.get(due.id).run_count == 1)
    assert runtime.scheduler.get(stopped.id).run_count == 0
    changed = {event["schedule_id"] for event in events_of(paths, "schedule:changed") if event["change"] == "reloaded"}
    assert {edited.id, stopped.id, due.id} <= changed
    await settle(runtime)


async def test_an_invalid_hand_edit_is_quarantined_not_applied(runner_runtime: Runtime) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    schedule = runtime.scheduler.create("keep", "a", interval_seconds=3600)
    set_field(paths, schedule.id, interval_seconds=5)
    runtime.scheduler.reload()
    quarantined = list(paths.state_dir.glob("schedules.json.corrupt-*"))
    assert len(quarantined) == 1 and b'"interval_seconds": 5' in quarantined[0].read_bytes()
    assert not paths.schedules.exists()
    assert "too short" in events_of(paths, "workspace:file-quarantined")[0]["reason"]


async def test_a_corrupt_file_is_quarantined_and_never_overwritten(runner_runtime: Runtime) -> None:
    runtime, paths = runner_runtime, runner_runtime.paths
    seen: list[FileQuarantined] = []
    runtime.bus.subscribe(seen.append, FileQuarantined)
    schedule = runtime.scheduler.create("survivor", "keep going", interval_seconds=3600, skip_if_running=False)
    set_field(paths, schedule.id, next_run_at=utc_now() + timedelta(seconds=0.5))
    runtime.scheduler.reload()
    garbage = b'{"version": 1, "schedules": [ this is not json'
    paths.schedules.write_bytes(garbage)
    runtime.scheduler.reload()

    quarantined = list(paths.state_dir.glob("schedules.json.corrupt-*"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == garbage
    assert len(seen) == 1 and seen[0].moved_to == str(quarantined[0])
    assert events_of(paths, "workspace:file-quarantined")[0]["path"] == str(paths.schedules)

    # the runner keeps firing what it had loaded, without recreating the file
    await async_wait_until(lambda: len(schedule_tasks(runtime, schedule.id)) == 1)
    assert not paths.schedules.exists()
    assert [schedule.id for schedule in runtime.scheduler.list()] == [schedule.id]

    # a real change writes a new file; the quarantined copy is untouched
    added = runtime.scheduler.create("new", "after the accident", interval_seconds=600)
    stored = {item["id"]: item for item in orjson.loads(paths.schedules.read_bytes())["schedules"]}
    assert set(stored) == {schedule.id, added.id} and stored[schedule.id]["run_count"] == 1
    assert list(paths.state_dir.glob("schedules.json.corrupt-*")) == quarantined
    assert quarantined[0].read_bytes() == garbage
    await settle(runtime)


async def test_two_runners_never_fire_the_same_due_time_twice(workspace: WorkspacePaths, llm_env) -> None:
    first, second = Runtime.open(workspace.root), Runtime.open(workspace.root)
    schedule = first.scheduler.create("once", "only once", interval_seconds=3600, skip_if_running=False)
    set_field(workspace, schedule.id, next_run_at=utc_now() + timedelta(seconds=0.3))
    first.scheduler.start_runner()
    second.scheduler.start_runner()
    try:
        # each timing loop saw the due time surface; the later one found it already fired on disk
        await async_wait_until(lambda: all(
            service._memory[schedule.id].run_count == 1 for service in (first.scheduler, second.scheduler)))
        await asyncio.to_thread(durable.writer.flush)  # the firing's commit (the durable writer) is complete
        assert len(schedule_tasks(first, schedule.id)) == 1
        assert len(events_of(workspace, "schedule:fired")) == 1
    finally:
        await first.scheduler.stop_runner()
        await second.scheduler.stop_runner()


# ----- scale ---------------------------------------------------------------------------------------


async def test_ten_thousand_idle_schedules_cost_one_timer_and_no_work(workspace: WorkspacePaths, llm_env) -> None:
    later = (utc_now() + timedelta(days=1)).isoformat()
    soon = (utc_now() + timedelta(seconds=0.5)).isoformat()
    schedules = [{"id": f"s-{index:08x}", "name": f"job {index}", "query": "q", "interval_seconds": 3600,
                  "next_run_at": later} for index in range(10_000)]
    schedules[1234]["next_run_at"] = soon
    atomic_write_json(workspace.schedules, {"version": 1, "schedules": schedules})
    runtime = Runtime.open(workspace.root)
    scheduler = runtime.scheduler
    passes = 0
    pop_due = scheduler._pop_due

    def counting_pop_due(now: float) -> list[str]:
        nonlocal passes
        passes += 1
        return pop_due(now)

    scheduler._pop_due = counting_pop_due  # type: ignore[method-assign]
    tasks_before = len(asyncio.all_tasks())
    scheduler.start_runner()
    try:
        assert len(asyncio.all_tasks()) == tasks_before + 1  # one timing loop, no timer per schedule
        assert len(scheduler._heap) == 10_000
        await async_wait_until(lambda: scheduler.get("s-000004d2").run_count == 1)
        passes_after_fire = passes
        await asyncio.sleep(1.0)  # idle on purpose: nothing is due for a day (CPU cost: bench/scheduler_idle.py)
        assert passes == passes_after_fire  # the loop slept through the idle second
        assert passes <= 3 and len(schedule_tasks(runtime, "s-000004d2")) == 1
        assert sum(1 for schedule in scheduler.list() if schedule.run_count) == 1
    finally:
        await scheduler.stop_runner()


# ----- agent tools ----------------------------------------------------------------------------------


async def test_schedule_tools_create_list_manage_and_refuse_bad_input(runner_runtime: Runtime) -> None:
    runtime = runner_runtime
    ctx = runtime.tool_context(conversation="chat")
    tools = runtime.tools

    created = await tools.execute("create_recurring_task", {"name": "tidy", "query": "tidy up",
                                                            "interval_seconds": "30m", "max_runs": 4}, ctx)
    assert created.ok and created.data is not None
    schedule_id = created.data["schedule_id"]
    assert runtime.scheduler.get(schedule_id).interval_seconds == 1800
    cron = await tools.execute("create_recurring_task", {"name": "daily", "query": "q", "cron": "0 9 * * *"}, ctx)
    assert cron.ok and "cron 0 9 * * *" in cron.content

    for bad, message in (({"interval_seconds": 5}, "too short"), ({"interval_seconds": "abc"}, "not a duration"),
                         ({"cron": "61 * * * *"}, "not a valid cron"), ({}, "needs an interval"),
                         ({"interval_seconds": 60, "cron": "* * * * *"}, "not both")):
        refused = await tools.execute("create_recurring_task", {"name": "x", "query": "y", **bad}, ctx)
        assert not refused.ok and message in refused.content
    assert len(runtime.scheduler.list()) == 2

    listed = await tools.execute("list_recurring_tasks", {}, ctx)
    assert listed.ok and schedule_id in listed.content and "every 30m" in listed.content

    paused = await tools.execute("manage_recurring_task", {"schedule_id": schedule_id, "action": "pause"}, ctx)
    assert paused.ok and runtime.scheduler.get(schedule_id).status == "paused"
    triggered = await tools.execute("manage_recurring_task", {"schedule_id": schedule_id, "action": "trigger_now"},
                                    ctx)
    assert triggered.ok and triggered.data and runtime.tasks.get(triggered.data["task_id"]).schedule_id == schedule_id
    resumed = await tools.execute("manage_recurring_task", {"schedule_id": schedule_id, "action": "resume"}, ctx)
    assert resumed.ok and runtime.scheduler.get(schedule_id).status == "active"
    deleted = await tools.execute("manage_recurring_task", {"schedule_id": schedule_id, "action": "delete"}, ctx)
    assert deleted.ok and schedule_id not in {schedule.id for schedule in runtime.scheduler.list()}
    unknown = await tools.execute("manage_recurring_task", {"schedule_id": schedule_id, "action": "pause"}, ctx)
    assert not unknown.ok and f"no schedule with id {schedule_id}" in unknown.content

    read_only = runtime.tool_context(conversation="chat", read_only=True)
    blocked = await tools.execute("create_recurring_task", {"name": "x", "query": "y", "interval_seconds": 60},
                                  read_only)
    assert not blocked.ok and "not available" in blocked.content
    await settle(runtime)
