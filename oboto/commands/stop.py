"""`oboto stop` / `oboto resume`: the emergency stop of every agent, and undoing exactly that."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_FAILED, EXIT_OK, add_json_flag, open_runtime, print_json

HELP = "emergency stop: cancel every task, pause every schedule and the loop (oboto resume undoes it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


def run(args: Namespace) -> int:
    report = open_runtime(args).emergency.stop()
    if args.json:
        print_json(_as_json(report))
    else:
        print(f"stopped: {_count(len(report.tasks), 'task')} cancelled, {_count(len(report.schedules), 'schedule')} "
              f"paused{', the agent loop paused' if report.loop else ''}. `oboto resume` undoes it.")
        for problem in report.problems:
            print(f"  could not stop {problem}")
    return EXIT_FAILED if report.problems else EXIT_OK


def run_resume(args: Namespace) -> int:
    report = open_runtime(args).emergency.resume()
    if args.json:
        print_json(_as_json(report))
    elif report.already:
        print("no emergency stop is in force; nothing to resume")
    else:
        print(f"resumed: {_count(len(report.schedules), 'schedule')}"
              f"{' and the agent loop' if report.loop else ''}; cancelled tasks stay cancelled.")
        for problem in report.problems:
            print(f"  could not resume {problem}")
    return EXIT_FAILED if report.problems else EXIT_OK


def _as_json(report) -> dict:
    return {"tasks": report.tasks, "schedules": report.schedules, "loop": report.loop, "already": report.already,
            "problems": report.problems}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
