"""`oboto daemon`: the headless runner; SIGTERM/SIGINT stop it gracefully."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from argparse import Namespace

from oboto.commands.common import EXIT_OK, open_runtime, warn

HELP = "run background tasks, schedules and the agent loop headless (SIGTERM/SIGINT stop it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing but problems")


def run(args: Namespace) -> int:
    runtime = open_runtime(args)
    asyncio.run(_serve(runtime, quiet=args.quiet))
    return EXIT_OK


async def _serve(runtime, *, quiet: bool) -> None:
    from oboto.services.runner import Runner

    runner = Runner(runtime)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, runner.stop)
    holder = runner.holder_pid()
    if holder is not None and not quiet:
        warn(f"process {holder} is the runner for {runtime.paths.root}; waiting to take over when it stops")
    serving = asyncio.create_task(runner.run())
    became_runner = asyncio.create_task(runner.wait_until_active())
    await asyncio.wait({serving, became_runner}, return_when=asyncio.FIRST_COMPLETED)
    if runner.is_runner and not quiet:
        warn(f"runner for {runtime.paths.root} (pid {os.getpid()})")
    await serving
    became_runner.cancel()
    await runtime.aclose()
    if not quiet:
        warn("stopped; tasks that were running are recorded as interrupted")
