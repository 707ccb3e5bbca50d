"""`oboto schedules create|list|edit|show|pause|resume|delete|trigger`; a schedule is named by its id or name."""

from __future__ import annotations

import argparse
import re
from argparse import Namespace
from typing import Any, Callable, TypeVar

from oboto.commands.common import (
    EXIT_OK,
    UsageError,
    add_json_flag,
    open_runtime,
    positive_int,
    print_json,
    runner_pid,
    warn,
)

HELP = "create, list, show, edit, pause, resume, delete or trigger recurring tasks"

T = TypeVar("T")
NOTIFY_CHOICES = ("failures", "always", "never")
NOTIFY_HELP = ("which runs post a notice into chat: failures, always or never (default: [schedules] notify, "
               "failures); every run stays in the schedule's history (`oboto schedules show ID`)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="schedules_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a recurring task")
    create.add_argument("--name", required=True, help="a short name")
    create.add_argument("--query", required=True, help="the instructions each run's agent gets")
    cadence = create.add_mutually_exclusive_group(required=True)
    cadence.add_argument("--every", metavar="DURATION", help="interval: 90s, 30m, 2h, 1d or seconds (minimum 10s)")
    cadence.add_argument("--cron", metavar="EXPR", help='5-field cron expression in local time, e.g. "*/5 * * * *"')
    create.add_argument("--max-runs", type=positive_int, metavar="N", help="pause after N runs")
    create.add_argument("--no-skip-if-running", dest="skip_if_running", action="store_false",
                        help="start a run even while the previous one is still going")
    create.add_argument("--description", metavar="TEXT", help="what the schedule is for")
    create.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="a tag (repeatable)")
    create.add_argument("--agent", metavar="NAME", help="the agent profile each run uses (see `oboto agents list`)")
    create.add_argument("--notify", choices=NOTIFY_CHOICES, help=NOTIFY_HELP)
    add_json_flag(create)
    listing = actions.add_parser("list", help="every schedule with status, cadence and runs")
    listing.add_argument("--status", choices=("all", "active", "paused"), default="all", help="only active or paused")
    listing.add_argument("--tag", metavar="TAG", help="only schedules with this tag")
    add_json_flag(listing)
    edit = actions.add_parser("edit", help="change a schedule's cadence, query, name, agent or limits")
    edit.add_argument("schedule_id", metavar="ID", help=SCHEDULE_REF_HELP)
    edit_cadence = edit.add_mutually_exclusive_group()
    edit_cadence.add_argument("--every", metavar="DURATION", help="a new interval (replaces a cron expression)")
    edit_cadence.add_argument("--cron", metavar="EXPR", help="a new cron expression (replaces an interval)")
    edit.add_argument("--query", help="new instructions for each run")
    edit.add_argument("--name", help="a new name")
    edit.add_argument("--description", metavar="TEXT", help="a new description")
    edit.add_argument("--agent", metavar="NAME", help="the agent profile each run uses")
    edit.add_argument("--notify", choices=(*NOTIFY_CHOICES, "default"),
                      help=NOTIFY_HELP + "; default: back to the workspace's setting")
    edit_runs = edit.add_mutually_exclusive_group()
    edit_runs.add_argument("--max-runs", type=positive_int, metavar="N", help="pause after N runs in all")
    edit_runs.add_argument("--no-max-runs", action="store_true", help="run without a limit")
    edit.add_argument("--tag", dest="tags", action="append", metavar="TAG", help="replace the tags (repeatable)")
    add_json_flag(edit)
    show = actions.add_parser("show", help="one schedule in full")
    show.add_argument("schedule_id", metavar="ID", help=SCHEDULE_REF_HELP)
    add_json_flag(show)
    pause = actions.add_parser("pause", help="stop a schedule from firing")
    pause.add_argument("schedule_id", metavar="ID", help=SCHEDULE_REF_HELP)
    pause.add_argument("--reason", metavar="TEXT", help="why (shown in list and show)")
    for name, text in (("resume", "start a paused schedule again, counting from now"),
                       ("delete", "delete a schedule"),
                       ("trigger", "run a schedule once now (a paused one stays paused)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("schedule_id", metavar="ID", help=SCHEDULE_REF_HELP)


SCHEDULE_REF_HELP = "the schedule's id (like s-1a2b3c4d) or its name"


def _schedule_ref(scheduler: Any, ref: str) -> str:
    """The id `ref` names: an id as it is, else the one schedule of that name."""
    from oboto.services.schedule_models import SCHEDULE_ID_PATTERN

    if re.fullmatch(SCHEDULE_ID_PATTERN, ref):
        return ref
    named = [schedule.id for schedule in scheduler.list() if schedule.name == ref]
    if len(named) == 1:
        return named[0]
    if named:
        raise UsageError(f"{len(named)} schedules are named {ref!r} ({', '.join(named)}): give one id")
    raise UsageError(f"no schedule has the id or name {ref!r} (see `oboto schedules list`)")


def _guard(action: Callable[[], T]) -> T:
    from oboto.core.durations import DurationError
    from oboto.core.errors import RequestRefused

    try:
        return action()
    except (DurationError, RequestRefused) as error:
        raise UsageError(str(error)) from None


def _note_if_no_runner(runtime: Any) -> None:
    """Schedules are fired by the runner only; say so when none is running."""
    if runner_pid(runtime) is None:
        warn("no oboto runner is active: schedules fire while `oboto daemon` or the TUI runs")


def run(args: Namespace) -> int:
    from oboto.core.durations import parse_duration

    runtime = open_runtime(args)
    scheduler = runtime.scheduler
    action = args.schedules_action
    if getattr(args, "schedule_id", None) is not None:
        args.schedule_id = _schedule_ref(scheduler, args.schedule_id)
    if action == "create":
        interval = _guard(lambda: parse_duration(args.every)) if args.every is not None else None
        schedule = _guard(lambda: scheduler.create(
            args.name, args.query, description=args.description, interval_seconds=interval, cron=args.cron,
            max_runs=args.max_runs, skip_if_running=args.skip_if_running, tags=args.tags, agent=args.agent,
            notify=args.notify,
        ))
        if args.json:
            print_json(schedule.model_dump(mode="json"))
        else:
            print(f"created {schedule.summary_line()}")
        _note_if_no_runner(runtime)
    elif action == "list":
        schedules = [schedule for schedule in scheduler.list()
                     if args.status in ("all", schedule.status) and (args.tag is None or args.tag in schedule.tags)]
        if args.json:
            print_json([schedule.model_dump(mode="json") for schedule in schedules])
        elif not schedules:
            print("no schedules")
        else:
            for schedule in schedules:
                print(schedule.summary_line())
    elif action == "edit":
        changes = _edits(args, parse_duration)
        if not changes:
            raise UsageError("nothing to change: give --every, --cron, --query, --name, --description, --agent, "
                             "--notify, --max-runs, --no-max-runs or --tag")
        schedule = _guard(lambda: scheduler.update(args.schedule_id, **changes))
        if args.json:
            print_json(schedule.model_dump(mode="json"))
        else:
            print(f"updated {schedule.summary_line()}")
    elif action == "show":
        schedule = _guard(lambda: scheduler.get(args.schedule_id))
        if args.json:
            print_json(schedule.model_dump(mode="json"))
        else:
            print(_details(schedule))
    elif action == "pause":
        print(f"paused {_guard(lambda: scheduler.pause(args.schedule_id, args.reason)).summary_line()}")
    elif action == "resume":
        print(f"resumed {_guard(lambda: scheduler.resume(args.schedule_id)).summary_line()}")
    elif action == "delete":
        print(f"deleted {_guard(lambda: scheduler.delete(args.schedule_id)).summary_line()}")
    elif action == "trigger":
        outcome = _guard(lambda: scheduler.trigger_now(args.schedule_id))
        if outcome.task_id:
            print(f"triggered {args.schedule_id}: task {outcome.task_id}")
        elif outcome.skipped_reason:
            print(f"not run: {outcome.skipped_reason}")
        else:
            print(f"trigger of {args.schedule_id} requested; the runner starts it within a second")
            _note_if_no_runner(runtime)
    return EXIT_OK


def _edits(args: Namespace, parse_duration: Callable[[str], float]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.every is not None:
        changes["interval_seconds"] = _guard(lambda: parse_duration(args.every))
    for field in ("cron", "query", "name", "description", "agent", "tags", "max_runs"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    if args.no_max_runs:
        changes["max_runs"] = None
    if args.notify is not None:
        changes["notify"] = None if args.notify == "default" else args.notify
    return changes


def _details(schedule: Any) -> str:
    def when(moment: Any) -> str:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

    runs = f"{schedule.run_count} of {schedule.max_runs}" if schedule.max_runs else str(schedule.run_count)
    lines = [
        f"{schedule.id}  {schedule.name}",
        f"status:      {schedule.status}" + (f" ({schedule.paused_reason})" if schedule.paused_reason else ""),
        f"cadence:     {schedule.cadence}",
        f"skip if running: {'yes' if schedule.skip_if_running else 'no'}",
        f"runs:        {runs}; consecutive failures: {schedule.consecutive_failures}",
        f"created:     {when(schedule.created_at)}",
        f"last run:    {when(schedule.last_run_at)}" + (f" (task {schedule.last_task_id})" if schedule.last_task_id else ""),
        f"next run:    {when(schedule.next_run_at)}",
        f"notices:     {schedule.notify or 'as [schedules] notify says'}",
    ]
    if schedule.recent_task_ids:
        lines.append(f"recent runs: {', '.join(reversed(schedule.recent_task_ids))} (newest first; "
                     "`oboto tasks status ID`)")
    if schedule.last_result:
        lines.append(f"last result: {schedule.last_result}")
    if schedule.tags:
        lines.append(f"tags:        {', '.join(schedule.tags)}")
    if schedule.agent:
        lines.append(f"agent:       {schedule.agent}")
    if schedule.description:
        lines.append(f"description: {schedule.description}")
    lines.append(f"query:\n{schedule.query}")
    return "\n".join(lines)
