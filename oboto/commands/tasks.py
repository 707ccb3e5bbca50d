"""`oboto tasks spawn|list|status|output|cancel|wait`."""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace

from oboto.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_json_flag,
    open_runtime,
    positive_int,
    positive_seconds,
    print_json,
    run_tasks_here,
    runner_pid,
    warn,
)
from oboto.commands.warm import run_async

HELP = "spawn, list, inspect, cancel, continue or wait for background tasks"
STATUSES = ("queued", "running", "awaiting_answer", "completed", "failed", "cancelled", "timed_out", "interrupted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="tasks_action", metavar="ACTION", required=True)
    spawn = actions.add_parser("spawn", help="start a background agent on a job")
    spawn.add_argument("description", metavar="DESCRIPTION", help="a short title")
    spawn.add_argument("--query", "-q", required=True, help="the instructions for the agent")
    spawn.add_argument("--context", help="background the agent needs")
    spawn.add_argument("--conversation", "-c", default="chat", help="conversation told when it ends (default: chat)")
    spawn.add_argument("--wait", action="store_true", help="wait for it to end (runs it here if no runner is active)")
    spawn.add_argument("--agent", metavar="NAME", help="the agent profile it runs as (see `oboto agents list`)")
    spawn.add_argument("--model", metavar="MODEL", help="a litellm model string for this task")
    add_json_flag(spawn)
    follow = actions.add_parser("continue", help="give a finished task a follow-up; its agent goes on with its history")
    follow.add_argument("task_id", metavar="ID")
    follow.add_argument("prompt", metavar="PROMPT")
    follow.add_argument("--wait", action="store_true", help="wait for it to end (runs it here if no runner is active)")
    add_json_flag(follow)
    listing = actions.add_parser("list", help="background tasks, newest first (as the terminal UI lists them)")
    listing.add_argument("--status", choices=STATUSES, help="only tasks in this state")
    listing.add_argument("--all", action="store_true", help="archived tasks too (finished longer ago than "
                                                            "tasks.retention_days)")
    add_json_flag(listing)
    status = actions.add_parser("status", help="one task's record")
    status.add_argument("task_id", metavar="ID")
    add_json_flag(status)
    output = actions.add_parser("output", help="what the task's agent said and did")
    output.add_argument("task_id", metavar="ID")
    output.add_argument("--tail", type=positive_int, metavar="N", help="only the last N lines")
    output.add_argument("--follow", "-f", action="store_true", help="keep printing new output until the task ends")
    cancel = actions.add_parser("cancel", help="stop a queued or running task (or --all of them)")
    cancel.add_argument("task_id", metavar="ID", nargs="?")
    cancel.add_argument("--all", action="store_true", help="cancel every queued and running task")
    add_json_flag(cancel)
    wait = actions.add_parser("wait", help="wait for a task to end")
    wait.add_argument("task_id", metavar="ID")
    wait.add_argument("--timeout", type=positive_seconds, default=600.0, metavar="S", help="longest wait (default 600)")
    add_json_flag(wait)


def _record_json(record) -> dict:
    document = record.model_dump(mode="json")
    document["elapsed_seconds"] = record.elapsed_seconds
    return document


def _print_record(record) -> None:
    from oboto.services.task_log import elapsed_text

    print(f"{record.id}  {record.status}  {record.description}")
    print(f"  origin {record.origin}, created {record.created_at.astimezone():%Y-%m-%d %H:%M:%S}, "
          f"elapsed {elapsed_text(record.elapsed_seconds)}, model calls {record.iterations}, tool calls {record.tool_calls}")
    if record.result:
        print(f"  result: {record.result}")
    if record.error:
        print(f"  error: {record.error}")


def _exit_for(record) -> int:
    return EXIT_FAILED if record.finished and record.status != "completed" else EXIT_OK


def run(args: Namespace) -> int:
    from oboto.core.errors import RequestRefused

    runtime = open_runtime(args)
    try:
        return ACTIONS[args.tasks_action](runtime, args)
    except (RequestRefused, ValueError) as error:
        raise UsageError(str(error)) from None


def _spawn(runtime, args: Namespace) -> int:
    record = runtime.tasks.spawn(args.description, args.query, context=args.context, conversation=args.conversation,
                                 agent=args.agent, model=args.model)
    return _queued(runtime, record, args)


def _continue(runtime, args: Namespace) -> int:
    return _queued(runtime, runtime.tasks.continue_task(args.task_id, args.prompt), args)


def _queued(runtime, record, args: Namespace) -> int:
    """Print a task just queued (or wait for it with --wait, running it here when no runner is active)."""
    if args.wait:
        (record,) = run_async(run_tasks_here(runtime, [record.id]))
    elif runner_pid(runtime) is None:
        warn("no runner is active: the task starts when `oboto daemon` or the terminal UI runs")
    if args.json:
        print_json(_record_json(record))
    elif args.wait:
        _print_record(record)
    else:
        print(record.id)
    return _exit_for(record) if args.wait else EXIT_OK


def _list(runtime, args: Namespace) -> int:
    from oboto.services.task_log import elapsed_text

    records = list(reversed(runtime.tasks.list(args.status, archived=args.all)))
    if args.json:
        print_json([_record_json(record) for record in records])
        return EXIT_OK
    for record in records:
        print(f"{record.id}  {record.status:<15} {elapsed_text(record.elapsed_seconds):>8}  {record.description}")
    return EXIT_OK


def _status(runtime, args: Namespace) -> int:
    record = runtime.tasks.get(args.task_id)
    print_json(_record_json(record)) if args.json else _print_record(record)
    return EXIT_OK


def _output(runtime, args: Namespace) -> int:
    output = runtime.tasks.output(args.task_id, tail=args.tail)
    sys.stdout.write(output.text)
    sys.stdout.flush()
    if args.follow:
        run_async(_follow(runtime, args.task_id, output.offset))
    return EXIT_OK


async def _follow(runtime, task_id: str, offset: int) -> None:
    import asyncio  # here, not at the top: the parser imports this module for every command, even `--help`

    while True:
        output = runtime.tasks.output(task_id, offset=offset)
        if output.text:
            sys.stdout.write(output.text)
            sys.stdout.flush()
        offset = output.offset
        if runtime.tasks.get(task_id).finished and offset >= output.size:
            return
        await asyncio.sleep(0.2)


def _cancel(runtime, args: Namespace) -> int:
    if args.all == bool(args.task_id):
        raise UsageError("give a task id or --all (not both)")
    if args.all:
        records = runtime.tasks.cancel_all(reason="cancelled with --all")
        if args.json:
            print_json([_record_json(record) for record in records])
        else:
            print(f"cancelling {len(records)} task{'' if len(records) == 1 else 's'}"
                  + (": " + ", ".join(record.id for record in records) if records else ""))
        return EXIT_OK
    record = runtime.tasks.cancel(args.task_id)
    if args.json:
        print_json(_record_json(record))
    elif record.status == "cancelled":
        print(f"cancelled {record.id}")
    elif record.finished:
        print(f"{record.id} had already ended ({record.status})")
    else:
        print(f"cancelling {record.id}; its runner stops the agent within a second")
    return EXIT_OK


def _wait(runtime, args: Namespace) -> int:
    record = run_async(runtime.tasks.wait(args.task_id, args.timeout))
    print_json(_record_json(record)) if args.json else _print_record(record)
    return _exit_for(record)


ACTIONS = {"spawn": _spawn, "continue": _continue, "list": _list, "status": _status, "output": _output,
           "cancel": _cancel, "wait": _wait}
