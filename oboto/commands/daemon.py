"""`oboto daemon`: the headless runner; SIGTERM/SIGINT stop it gracefully, within STOP_GRACE_SECONDS.

Stopping cancels the running tasks (recorded `interrupted`) and posts their notices. What a worker thread is
still doing then (a library's first import, an embedding model storing an episode) cannot be interrupted, and
the interpreter would wait for it on the way out: once everything is stored, the daemon ends its process at
once instead. If stopping itself takes longer than the grace period, it says so and exits anyway, as a crash
would, which loses nothing that was stored (the next runner marks tasks still recorded running as interrupted).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from argparse import Namespace

from oboto.commands.common import EXIT_FAILED, EXIT_OK, exit_now, open_runtime, warn

HELP = "run background tasks, schedules and the agent loop headless (SIGTERM/SIGINT stop it)"
STOP_GRACE_SECONDS = 4.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing but problems")


def run(args: Namespace) -> int:
    import asyncio  # here, not at the top: the parser imports this module for every command, even `--help`

    runtime = open_runtime(args)
    # Not asyncio.run: it joins the loop's worker threads, and one may be busy for many seconds more.
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_serve(runtime, quiet=args.quiet, commands=getattr(args, "serve_commands", None)))
    exit_now(EXIT_OK)


async def _serve(runtime, *, quiet: bool, commands=None) -> None:
    import asyncio

    from oboto.services.runner import Runner

    runner = Runner(runtime, commands=commands)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if not runner.stopping:
            _exit_after(STOP_GRACE_SECONDS)
        runner.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
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


def _exit_after(seconds: float) -> None:
    """End the process `seconds` from now if stopping has not ended it by then (a timer thread, so neither a
    busy event loop nor the interpreter waiting for worker threads at exit can hold it up)."""

    def give_up() -> None:
        warn(f"stopping took longer than {seconds:g} s; exiting now (tasks still recorded as running are marked "
             "interrupted by the next runner)")
        exit_now(EXIT_FAILED)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()


