"""`oboto diff ID [PATH]`: the unified diff of one change (coloured on a terminal)."""

from __future__ import annotations

import argparse
import os
import sys
from argparse import Namespace

from oboto.commands.common import EXIT_OK, warn

HELP = "print the unified diff of a change (see `oboto changes`)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("change_id", metavar="ID", help="a change id from `oboto changes`")
    parser.add_argument("path", nargs="?", metavar="PATH", help="only this file")


def run(args: Namespace) -> int:
    from oboto.commands.changes import checkpoints_of, refused

    checkpoints = checkpoints_of(args)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    text = refused(lambda: checkpoints.diff(args.change_id, args.path, color=color))
    sys.stdout.write(text)
    if not text:
        skipped = ", ".join(file.path for file in refused(lambda: checkpoints.get(args.change_id)).skipped)
        warn(f"{args.change_id} has no diff to show" + (f"; its files were not checkpointed: {skipped}" if skipped else ""))
    return EXIT_OK
