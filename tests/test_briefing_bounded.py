"""The loop's briefing stays small however many schedules and tasks there are: counts, plus the few that matter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oboto.core.atomic import atomic_write_json
from oboto.core.models import utc_now
from oboto.services.runtime import Runtime

SCHEDULES = 10_000
BRIEFING_LIMIT_BYTES = 16 * 1024


def write_schedules(runtime: Runtime, count: int) -> None:
    """`count` schedules due a day from now; among many, three are failing, two ran lately, one is due in a minute."""
    now = utc_now()
    later = (now + timedelta(days=1)).isoformat()
    schedules = [{"id": f"s-{index:08x}", "name": f"job {index}", "query": "check the build",
                  "interval_seconds": 3600, "next_run_at": later} for index in range(count)]
    if count < 100:
        atomic_write_json(runtime.paths.schedules, {"version": 1, "schedules": schedules})
        return
    for index in (11, 22, 33):
        schedules[index].update(name=f"failing job {index}", consecutive_failures=2, run_count=4,
                                last_run_at=(now - timedelta(minutes=index)).isoformat(), last_result="failed: boom")
    for index in (44, 55):
        schedules[index].update(name=f"lately ran {index}", run_count=1, last_result="all good",
                                last_run_at=(now - timedelta(seconds=index)).isoformat())
    schedules[66].update(name="due soonest", next_run_at=(now + timedelta(minutes=1)).isoformat())
    atomic_write_json(runtime.paths.schedules, {"version": 1, "schedules": schedules})


@pytest.fixture
async def crowded_runner(runtime: Runtime):
    write_schedules(runtime, SCHEDULES)
    runtime.activate_runner()
    yield runtime
    await runtime.deactivate_runner("the test finished")


async def test_ten_thousand_schedules_give_a_briefing_under_16_kb(crowded_runner: Runtime) -> None:
    text = crowded_runner.agent_loop.next_briefing()
    assert len(text.encode()) <= BRIEFING_LIMIT_BYTES
    schedules = text.split("## Schedules", 1)[1].split("## Background tasks", 1)[0]
    assert f"{SCHEDULES} schedules ({SCHEDULES} active)" in schedules
    for shown in ("failing job 11", "failing job 22", "failing job 33", "lately ran 44", "lately ran 55",
                  "due soonest"):
        assert f"- {shown} (" in schedules
    assert "- job 5000 (" not in schedules


async def test_the_runner_briefs_from_the_schedules_it_holds_without_reading_the_file(
        crowded_runner: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading() -> None:
        raise AssertionError("the briefing read schedules.json")

    monkeypatch.setattr(crowded_runner.scheduler, "_read_disk", no_reading)
    assert "- due soonest (" in crowded_runner.agent_loop.next_briefing()


def test_a_few_schedules_are_all_listed_without_a_count(runtime: Runtime) -> None:
    write_schedules(runtime, 3)
    schedules = runtime.agent_loop.next_briefing().split("## Schedules", 1)[1].split("## Background tasks", 1)[0]
    assert [line.split(" (")[0] for line in schedules.splitlines() if line.startswith("- ")] == [
        "- job 0", "- job 1", "- job 2"]
    assert "schedules (" not in schedules


def test_tasks_are_counted_by_state_with_running_ones_capped_and_failures_kept(runtime: Runtime) -> None:
    records = [runtime.tasks.spawn(f"job {index}", "Do it.") for index in range(25)]
    now = utc_now()
    for offset, record in enumerate(records[:12]):  # the oldest failures, then newer successes that outnumber them
        failed = offset < 3
        runtime.tasks.set_status(record.id, "failed" if failed else "completed",
                                 finished_at=now - timedelta(minutes=60 - offset),
                                 error="the tests failed" if failed else None, result=None if failed else "done")
    tasks = runtime.agent_loop.next_briefing().split("## Background tasks", 1)[1].split("## Memories", 1)[0]
    assert "All tasks: 9 completed, 3 failed, 13 queued" in tasks
    running = tasks.split("### Running", 1)[1].split("### Recently finished", 1)[0]
    assert len([line for line in running.splitlines() if line.startswith("- t-")]) == 10
    assert "- and 3 more queued or running" in running
    finished = tasks.split("### Recently finished", 1)[1].split("### Recently failed", 1)[0]
    assert [line.split("] ")[1].split(" (")[0] for line in finished.splitlines() if line.startswith("- t-")] == [
        "job 11", "job 10", "job 9", "job 8", "job 7"]
    failed = tasks.split("### Recently failed", 1)[1]
    assert [line.split("] ")[1].split(" (")[0] for line in failed.splitlines() if line.startswith("- t-")] == [
        "job 2", "job 1", "job 0"]
    assert "the tests failed" in failed
