"""`oboto schedules …` run as a real command: output, JSON, exit codes, and requests to a live runner."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from oboto.core.paths import WorkspacePaths
from oboto.services.runner import Runner
from oboto.services.runtime import Runtime
from oboto.testing import async_wait_until
from cli_helpers import oboto

NO_RUNNER_NOTE = "schedules fire while `oboto daemon` or the TUI runs"


def test_create_list_show_with_json(workspace: WorkspacePaths) -> None:
    created = oboto(workspace.root, "schedules", "create", "--name", "tidy", "--query", "tidy the notes",
                    "--every", "30m", "--max-runs", "3", "--no-skip-if-running", "--description", "weekly chores",
                    "--json")
    assert created.returncode == 0, created.stderr
    schedule = orjson.loads(created.stdout)
    assert schedule["interval_seconds"] == 1800 and schedule["max_runs"] == 3
    assert schedule["skip_if_running"] is False and schedule["description"] == "weekly chores"
    assert NO_RUNNER_NOTE in created.stderr

    cron = oboto(workspace.root, "schedules", "create", "--name", "standup", "--query", "summarise",
                 "--cron", "*/5 * * * *")
    assert cron.returncode == 0 and cron.stdout.startswith("created s-") and "cron */5 * * * *" in cron.stdout

    listed = oboto(workspace.root, "schedules", "list", "--json")
    assert listed.returncode == 0
    assert [item["name"] for item in orjson.loads(listed.stdout)] == ["tidy", "standup"]
    plain = oboto(workspace.root, "schedules", "list")
    assert schedule["id"] in plain.stdout and "every 30m" in plain.stdout and "runs 0/3" in plain.stdout

    shown = oboto(workspace.root, "schedules", "show", schedule["id"], "--json")
    assert orjson.loads(shown.stdout)["query"] == "tidy the notes"
    text = oboto(workspace.root, "schedules", "show", schedule["id"])
    assert "status:      active" in text.stdout and "tidy the notes" in text.stdout


@pytest.mark.parametrize(("cadence", "reason"), [
    (["--every", "0"], "minimum is 10 seconds"),
    (["--every", "-5"], "not a duration"),
    (["--every", "abc"], "not a duration"),
    (["--every", "inf"], "not a duration"),
    (["--every", "nan"], "not a duration"),
    (["--every", "9s"], "too short"),
    (["--cron", "61 * * * *"], "not a valid cron expression"),
    (["--cron", "every day"], "must have 5 fields"),
    (["--every", "1m", "--cron", "* * * * *"], "not allowed with argument"),
    ([], "one of the arguments --every --cron is required"),
    (["--every", "1m", "--max-runs", "0"], "must be 1 or more"),
])
def test_bad_input_exits_2_with_a_one_line_reason(workspace: WorkspacePaths, cadence: list[str], reason: str) -> None:
    result = oboto(workspace.root, "schedules", "create", "--name", "x", "--query", "y", *cadence)
    assert result.returncode == 2
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not workspace.schedules.exists() or orjson.loads(workspace.schedules.read_bytes())["schedules"] == []


def test_unknown_and_malformed_ids_exit_2(workspace: WorkspacePaths) -> None:
    for action in ("show", "pause", "resume", "delete", "trigger"):
        unknown = oboto(workspace.root, "schedules", action, "s-00000000")
        assert unknown.returncode == 2 and "no schedule with id s-00000000" in unknown.stderr
    unnamed = oboto(workspace.root, "schedules", "pause", "42")
    assert unnamed.returncode == 2 and "no schedule has the id or name '42'" in unnamed.stderr


def test_a_schedule_is_named_by_its_name_unless_two_share_it(workspace: WorkspacePaths) -> None:
    def create(name: str) -> str:
        return orjson.loads(oboto(workspace.root, "schedules", "create", "--name", name, "--query", "q",
                                  "--every", "1h", "--json").stdout)["id"]

    nightly = create("nightly")
    paused = oboto(workspace.root, "schedules", "pause", "nightly")
    assert paused.returncode == 0 and paused.stdout.startswith(f"paused {nightly}")
    assert orjson.loads(oboto(workspace.root, "schedules", "show", "nightly", "--json").stdout)["id"] == nightly

    twin = create("nightly")
    ambiguous = oboto(workspace.root, "schedules", "delete", "nightly")
    assert ambiguous.returncode == 2 and "2 schedules are named 'nightly'" in ambiguous.stderr
    assert nightly in ambiguous.stderr and twin in ambiguous.stderr
    assert len(orjson.loads(workspace.schedules.read_bytes())["schedules"]) == 2, "nothing deleted"


def test_pause_resume_trigger_delete(workspace: WorkspacePaths) -> None:
    schedule_id = orjson.loads(oboto(workspace.root, "schedules", "create", "--name", "n", "--query", "q",
                                     "--every", "1h", "--json").stdout)["id"]

    def stored() -> dict:
        return orjson.loads(workspace.schedules.read_bytes())["schedules"][0]

    paused = oboto(workspace.root, "schedules", "pause", schedule_id, "--reason", "holiday")
    assert paused.returncode == 0 and stored()["status"] == "paused" and stored()["paused_reason"] == "holiday"
    resumed = oboto(workspace.root, "schedules", "resume", schedule_id)
    assert resumed.returncode == 0 and stored()["status"] == "active" and stored()["next_run_at"]
    triggered = oboto(workspace.root, "schedules", "trigger", schedule_id)
    assert triggered.returncode == 0 and "requested" in triggered.stdout and NO_RUNNER_NOTE in triggered.stderr
    assert stored()["trigger_requested_at"] is not None
    deleted = oboto(workspace.root, "schedules", "delete", schedule_id)
    assert deleted.returncode == 0
    assert orjson.loads(workspace.schedules.read_bytes())["schedules"] == []


def test_a_corrupt_file_is_reported_and_moved_aside(workspace: WorkspacePaths) -> None:
    workspace.schedules.write_bytes(b"{not json")
    result = oboto(workspace.root, "schedules", "list")
    assert result.returncode == 0 and "could not be read" in result.stderr and "schedules.json" in result.stderr
    [moved] = workspace.state_dir.glob("schedules.json.corrupt-*")
    assert moved.read_bytes() == b"{not json" and not workspace.schedules.exists()


async def test_a_trigger_from_the_cli_is_fired_by_the_running_runner(workspace: WorkspacePaths, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run(wait_for_lock=False))
    try:
        assert await runner.wait_until_active(10)
        schedule = runtime.scheduler.create("remote", "from the command line", interval_seconds=3600)
        result = await asyncio.to_thread(oboto, workspace.root, "schedules", "trigger", schedule.id)
        assert result.returncode == 0 and NO_RUNNER_NOTE not in result.stderr
        fired = await async_wait_until(lambda: (s := runtime.scheduler.get(schedule.id)).run_count == 1 and s,
                                       timeout=5)
        assert runtime.tasks.get(fired.last_task_id).schedule_id == schedule.id
        assert fired.trigger_requested_at is None
        await runtime.tasks.wait(fired.last_task_id, 10)
    finally:
        runner.stop()
        await serving
