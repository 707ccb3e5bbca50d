"""`oboto redo [--force]`: undo the latest undo (of the chat conversation, or of --conversation / --task)."""

from __future__ import annotations

import argparse
from argparse import Namespace

HELP = "take back the latest undo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from oboto.commands.changes import add_change_filters
    from oboto.commands.undo import add_undo_options

    add_undo_options(parser)
    add_change_filters(parser)


def run(args: Namespace) -> int:
    from oboto.commands.changes import checkpoints_of, refused
    from oboto.commands.undo import report

    checkpoints = checkpoints_of(args)
    return report(args, lambda: refused(lambda: checkpoints.redo(
        conversation=args.conversation, task_id=args.task_id, force=args.force)))
