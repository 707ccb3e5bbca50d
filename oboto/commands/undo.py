"""`oboto undo [ID] [--force]`: put back every file a change touched, as it was before the change."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_FAILED, EXIT_OK, WorkFailed, add_json_flag, print_json, warn

HELP = "undo a change (default: the latest change of the chat conversation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from oboto.commands.changes import add_change_filters

    parser.add_argument("change_id", nargs="?", metavar="ID", help="the change to undo (see `oboto changes`)")
    add_undo_options(parser)
    add_change_filters(parser)


def add_undo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="overwrite files that were changed again since the change")
    add_json_flag(parser)


def run(args: Namespace) -> int:
    from oboto.commands.changes import checkpoints_of, refused

    checkpoints = checkpoints_of(args)
    return report(args, lambda: refused(lambda: checkpoints.undo(
        args.change_id, conversation=args.conversation, task_id=args.task_id, force=args.force)))


def report(args: Namespace, action) -> int:
    """Run an undo or redo and tell the person what it restored; exit 1 when it refused or could not finish."""
    from oboto.services.checkpoints import NothingToUndo, UndoRefused

    try:
        result = action()
    except (NothingToUndo, UndoRefused) as refusal:
        raise WorkFailed(str(refusal)) from None
    target, change = result.target, result.change
    if args.json:
        print_json({"undid": target.id, "change": change.to_json(undone=False) if change else None,
                    "restored": result.restored, "overwritten": result.overwritten, "failures": result.failures,
                    "not_restored": [file.model_dump(mode="json") for file in target.skipped]})
    else:
        print(result.headline())
        if result.restored and change is not None:
            print(f"This is change {change.id}; `oboto undo {change.id}` takes it back.")
    if result.overwritten:
        warn(f"--force overwrote files changed since {target.id}: {', '.join(result.overwritten)}")
    if (not_restored := result.not_restored()) is not None:
        warn(f"not restored (never checkpointed): {not_restored}")
    if result.failures:
        warn(f"could not restore {len(result.failures)} file(s): " + "; ".join(result.failures))
        return EXIT_FAILED
    return EXIT_OK
