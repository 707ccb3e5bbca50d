"""`oboto resume`: undo the emergency stop (resumes exactly what `oboto stop` paused)."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import add_json_flag
from oboto.commands.stop import run_resume

HELP = "undo the emergency stop: resume exactly the schedules and loop that `oboto stop` paused"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


def run(args: Namespace) -> int:
    return run_resume(args)
