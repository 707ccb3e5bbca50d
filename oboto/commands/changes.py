"""`oboto changes [ID] [--conversation NAME | --task ID] [--json]`: what each turn, task and command changed."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_OK, UsageError, add_json_flag, open_runtime, print_json

HELP = "list the checkpointed changes agents made to the workspace's files"


def add_change_filters(parser: argparse.ArgumentParser) -> None:
    """--conversation NAME | --task ID, shared by changes, undo and redo."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--conversation", "-c", metavar="NAME", help="only the turns of this conversation")
    scope.add_argument("--task", "-t", metavar="ID", dest="task_id", help="only this background task")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("change_id", nargs="?", metavar="ID", help="show one change in full")
    add_change_filters(parser)
    add_json_flag(parser)


def checkpoints_of(args: Namespace):  # -> CheckpointService
    """The workspace's checkpoint service, after checking the filter arguments."""
    from oboto.services.conversation_models import ConversationNameError, normalise_name

    if getattr(args, "conversation", None):
        try:
            args.conversation = normalise_name(args.conversation)
        except ConversationNameError as error:
            raise UsageError(str(error)) from None
    return open_runtime(args).checkpoints


def refused(action):
    """Run `action`; a change id that does not exist is bad input (exit 2)."""
    from oboto.services.checkpoints import ChangeError

    try:
        return action()
    except ChangeError as error:
        raise UsageError(str(error)) from None


def run(args: Namespace) -> int:
    checkpoints = checkpoints_of(args)
    if args.change_id:
        change = refused(lambda: checkpoints.get(args.change_id))
        undone = checkpoints.undone_by()
        if args.json:
            print_json(change.to_json(undone=change.id in undone))
        else:
            print_change(change, undone.get(change.id), files=True)
        return EXIT_OK
    changes = refused(lambda: checkpoints.changes(conversation=args.conversation, task_id=args.task_id))
    undone = checkpoints.undone_by()
    if args.json:
        print_json([change.to_json(undone=change.id in undone) for change in changes])
        return EXIT_OK
    if not changes:
        print("no changes recorded" + (" for that filter" if args.conversation or args.task_id else ""))
    for change in changes:
        print_change(change, undone.get(change.id), files=True)
    return EXIT_OK


def print_change(change, undone_by: str | None, *, files: bool) -> None:
    when = change.finished_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    count = f"{len(change.files)} file" + ("" if len(change.files) == 1 else "s")
    notes = []
    if change.parent:
        notes.append(f"inside {change.parent}")
    if undone_by:
        notes.append(f"undone by {undone_by}")
    suffix = f"  [{'; '.join(notes)}]" if notes else ""
    print(f"{change.id}  {when}  {change.who}  {count}  +{change.lines_added} -{change.lines_deleted}{suffix}")
    if not files:
        return
    for file in change.files:
        name = f"{file.old_path} → {file.path}" if file.old_path else file.path
        counts = "(binary)" if file.binary else f"+{file.added_lines} -{file.deleted_lines}"
        print(f"    {file.status:<9} {name}  {counts}")
    for skipped in change.skipped:
        print(f"    {'skipped':<9} {skipped.path}: {skipped.reason}")
