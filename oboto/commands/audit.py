"""`oboto audit`: every tool call of every agent, with the permission decision and how it ended."""

from __future__ import annotations

import argparse
import sys
from argparse import Namespace

from oboto.commands.common import EXIT_OK, UsageError, add_json_flag, print_json, report_event, workspace_paths

HELP = "show the audit log: every tool call, who made it, what was decided and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", metavar="ID", help="only calls made by this background task")
    parser.add_argument("--conversation", metavar="NAME", help="only calls made in this conversation")
    parser.add_argument("--since", metavar="WHEN", help="only calls since then: 30m, 1h, 2d, or a time")
    parser.add_argument("--decision", metavar="D", action="append",
                        help="only these decisions: allowed, denied, ask (repeatable)")
    add_json_flag(parser)


def run(args: Namespace) -> int:
    from oboto.core.audit import AuditLog, parse_since

    paths = workspace_paths(args)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    for word in args.decision or ():
        if word.lower() not in ("allowed", "allow", "denied", "deny", "refused", "ask", "asked"):
            raise UsageError(f"--decision {word!r}: use allowed, denied or ask")
    audit = AuditLog(paths.audit, report=report_event)
    entries = list(audit.entries(task_id=args.task, conversation=args.conversation, since=since,
                                 decisions=args.decision))
    if args.json:
        print_json(entries)
        return EXIT_OK
    if not entries:
        print("no tool calls recorded" + (" that match" if any((args.task, args.conversation, since,
                                                                  args.decision)) else ""))
        return EXIT_OK
    for entry in entries:
        sys.stdout.write(format_entry(entry) + "\n")
    return EXIT_OK


def format_entry(entry: dict) -> str:
    """One line a person reads: when, who, the call, the decision and why, how it ended."""
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(entry.get("at"))).astimezone().strftime("%m-%d %H:%M:%S")
    except ValueError:
        stamp = "?"
    who = entry.get("task_id") or entry.get("conversation") or entry.get("origin", "?")
    if entry.get("schedule_id"):
        who = f"{who} (schedule {entry['schedule_id']})"
    arguments = entry.get("arguments")
    shown = ""
    if isinstance(arguments, dict):
        shown = ", ".join(f"{key}={_short(value)}" for key, value in arguments.items())
    outcome = entry.get("outcome", "?")
    if entry.get("error") and outcome != "ok":
        outcome = f"{outcome}: {_short(entry['error'], 80)}"
    return (f"{stamp} {who:<14} {entry.get('tool', '?')}({shown}) [{entry.get('tier', '?')}] "
            f"{entry.get('decision', '?')} — {entry.get('reason', '')} → {outcome} "
            f"({entry.get('duration_ms', 0):.0f} ms)")


def _short(value: object, limit: int = 60) -> str:
    text = str(value).replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"
