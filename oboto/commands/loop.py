"""`oboto loop play [--interval SECONDS] | pause | resume | stop | interval SECONDS | status | goals … | briefing`."""

from __future__ import annotations

import argparse
from argparse import Namespace
from datetime import datetime
from typing import Any

from oboto.commands.common import (
    EXIT_OK,
    UsageError,
    add_json_flag,
    open_runtime,
    positive_seconds,
    print_json,
    runner_pid,
    warn,
)

HELP = "play, pause, resume or stop the autonomous agent loop, set its goals, or show its state and briefing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="loop_action", metavar="ACTION", required=True)
    play = actions.add_parser("play", help="start ticking (the first tick comes at once)")
    play.add_argument("--interval", type=positive_seconds, metavar="SECONDS",
                      help="seconds between ticks (at least 10; default from the config, 180)")
    add_json_flag(play)
    pause = actions.add_parser("pause", help="stop future ticks until resume (a running tick goes on)")
    pause.add_argument("--reason", metavar="TEXT", help="why, shown in the status")
    add_json_flag(pause)
    add_json_flag(actions.add_parser("resume", help="go on ticking after a pause"))
    add_json_flag(actions.add_parser("stop", help="stop ticking (the count and interval are kept)"))
    interval = actions.add_parser("interval", help="change the seconds between ticks (at least 10)")
    interval.add_argument("seconds", type=positive_seconds, metavar="SECONDS")
    add_json_flag(interval)
    add_json_flag(actions.add_parser("status", help="the loop's state, interval, count and next tick"))
    goals = actions.add_parser("goals", help="what the loop works towards (its briefing recalls memories for them)")
    goal_actions = goals.add_subparsers(dest="goals_action", metavar="ACTION", required=True)
    goal_set = goal_actions.add_parser("set", help="replace the goals (one argument per goal)")
    goal_set.add_argument("goals", nargs="+", metavar="TEXT")
    add_json_flag(goal_set)
    goal_add = goal_actions.add_parser("add", help="add one goal after the others")
    goal_add.add_argument("goal", metavar="TEXT")
    add_json_flag(goal_add)
    add_json_flag(goal_actions.add_parser("clear", help="remove every goal"))
    add_json_flag(goal_actions.add_parser("list", help="the current goals"))
    actions.add_parser("briefing", help="print the briefing packet the next tick would send")


def run(args: Namespace) -> int:
    from oboto.services.loop_models import LoopError

    runtime = open_runtime(args)
    loop = runtime.agent_loop
    action = args.loop_action
    if action == "briefing":
        print(loop.next_briefing(), end="")
        return EXIT_OK
    if action == "goals":
        return _goals(loop, args)
    try:
        if action == "play":
            state = loop.play(args.interval)
        elif action == "pause":
            state = loop.pause(args.reason)
        elif action == "resume":
            state = loop.resume()
        elif action == "stop":
            state = loop.stop()
        elif action == "interval":
            state = loop.set_interval(args.seconds)
        else:
            state = loop.status()
    except LoopError as error:
        raise UsageError(str(error)) from None
    holder = runner_pid(runtime)
    if args.json:
        print_json({**state.to_json_dict(), "runner_pid": holder})
    else:
        print("\n".join(_describe(state)))
    if state.state == "playing" and holder is None and action != "status":
        warn("no oboto runner is active on this workspace; the loop ticks once the TUI or `oboto daemon` runs")
    return EXIT_OK


def _goals(loop: Any, args: Namespace) -> int:
    from oboto.services.loop_models import LoopError

    try:
        if args.goals_action == "set":
            state = loop.set_goals(args.goals)
        elif args.goals_action == "add":
            state = loop.add_goal(args.goal)
        elif args.goals_action == "clear":
            state = loop.set_goals([])
        else:
            state = loop.status()
    except LoopError as error:
        raise UsageError(str(error)) from None
    if args.json:
        print_json(state.goals)
    elif state.goals:
        print("\n".join(f"{number}. {goal}" for number, goal in enumerate(state.goals, start=1)))
    else:
        print("no goals set")
    return EXIT_OK


def _describe(state: Any) -> list[str]:
    lines = [f"agent loop: {state.state}", f"interval: {state.interval_seconds:g}s",
             f"invocations: {state.invocation_count}", f"last tick: {_when(state.last_tick_at)}"]
    if state.state == "playing":
        lines.append(f"next tick: {_when(state.next_tick_at)}")
    if state.paused_reason:
        lines.append(f"paused: {state.paused_reason}")
    if state.paused_for_question:
        lines.append(f"answer it with: oboto questions answer {state.paused_for_question} TEXT")
    if state.current_task_id:
        lines.append(f"running: task {state.current_task_id} (oboto tasks output {state.current_task_id})")
    if state.goals:
        lines.append("goals: " + "; ".join(state.goals))
    return lines


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "never"
