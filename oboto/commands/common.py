"""What every subcommand shares: opening the workspace, reporting problems, printing JSON.

Command modules are imported to build the parser, so they import only argparse-level things at the top;
everything heavier is imported inside `run` (keeps `oboto --help` instant).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_FLUSH_SECONDS = 2.0
"""How long a process ending at once waits for the writer's queued bookkeeping."""


class UsageError(Exception):
    """Bad usage or bad input: exit 2 with this one-line reason."""


class WorkFailed(Exception):
    """The work itself failed: exit 1 with this reason."""


def warn(message: str) -> None:
    """One line on stderr, whatever the message holds (a name given on the command line may hold a newline)."""
    from oboto.core.text import one_line

    print(f"oboto: {one_line(message)}", file=sys.stderr)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_mode_flag(parser: argparse.ArgumentParser, *, dest: str = "mode") -> None:
    from oboto.core.permission_modes import MODES

    parser.add_argument("--mode", choices=MODES, metavar="MODE", dest=dest,
                        help=f"permission mode: {', '.join(MODES)} (default: permissions.mode, auto-edit)")


MAX_COUNT = 1_000_000_000
"""The largest count a flag takes (lines, runs, entries): far beyond use, and within what JSON and SQLite store."""
MAX_FLAG_SECONDS = 100 * 365 * 86400.0
"""The longest wait or interval a flag takes (100 years, like `audit --since`); each command may allow less."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is too large (at most {MAX_COUNT})")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):  # also refuses nan, for which every comparison is false
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    if value > MAX_FLAG_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is too long (at most 100 years, {MAX_FLAG_SECONDS:.0f} seconds)")
    return value


def report_event(event: Any) -> None:
    """Tell the person on stderr about files moved aside and other warnings."""
    from oboto.core.events import FileQuarantined, WorkspaceWarning

    if isinstance(event, FileQuarantined):
        warn(f"{event.path} could not be read ({event.reason}); it was moved to {event.moved_to}")
    elif isinstance(event, WorkspaceWarning):
        warn(event.message)


def workspace_paths(args: argparse.Namespace):  # -> WorkspacePaths
    """The paths of the workspace named by --workspace (the current folder without it); UsageError if it cannot be."""
    from oboto.core.paths import WorkspacePaths
    from oboto.core.text import cut

    try:
        paths = WorkspacePaths.for_root(args.workspace or ".")
        is_folder = paths.root.is_dir()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop on Python 3.11
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"workspace {cut(args.workspace, 80)!r} cannot be used: {reason}") from None
    if not is_folder:
        raise UsageError(f"workspace {paths.root} is not a folder")
    return paths


def open_runtime(args: argparse.Namespace):  # -> Runtime
    from oboto.core.bus import EventBus
    from oboto.core.config import ConfigProblem, load_settings
    from oboto.services.runtime import Runtime

    paths = workspace_paths(args)
    moved = paths.ensure()
    try:
        settings, warnings = load_settings(paths)
    except ConfigProblem as problem:
        raise UsageError(str(problem)) from None
    for message in warnings:
        warn(message)
    bus = _reporting_bus(moved, EventBus(paths.events, max_bytes=settings.events.max_bytes,
                                         backups=settings.events.backups))
    runtime = Runtime(paths, settings, warnings=warnings, bus=bus)
    # `oboto --mode M` (before the command) and `oboto run --mode M` are both honoured.
    if mode := getattr(args, "mode", None) or getattr(args, "global_mode", None):
        runtime.set_permission_mode(mode)
    return runtime


def open_conversations(args: argparse.Namespace):  # -> ConversationManager
    """The workspace's conversations alone, for commands that only read them: importing the Runtime and the
    settings is most of such a command's time. Events go to the log with its default rotation."""
    from oboto.core.bus import EventBus
    from oboto.services.conversations import ConversationManager

    paths = workspace_paths(args)
    moved = paths.ensure()
    return ConversationManager(paths, _reporting_bus(moved, EventBus(paths.events)))


def _reporting_bus(moved: list[Any], bus: Any) -> Any:
    """`bus`, telling the person of damaged files and warnings, with `moved` (found while opening) published."""
    from oboto.core.events import FileQuarantined, WorkspaceWarning

    bus.subscribe(report_event, FileQuarantined, WorkspaceWarning)
    for event in moved:
        bus.publish(event)
    return bus


def runner_pid(runtime: Any) -> int | None:
    """The pid of the process running agents on this workspace, or None when there is none."""
    from oboto.core.locks import ProcessLock

    return ProcessLock(runtime.paths.runner_lock).holder_pid()


def exit_now(code: int) -> NoReturn:
    """End the process without waiting for worker threads (every acknowledged write is already fsynced): a cold
    `import chromadb` or an embedding call on a thread cannot be interrupted, and the interpreter would join it."""
    import logging
    import os

    from oboto.core import durable

    try:
        durable.writer.flush(timeout=EXIT_FLUSH_SECONDS)  # bookkeeping posted to the writer; os._exit runs no atexit
    except TimeoutError:
        pass  # a stuck disk must not keep the process: what was acknowledged is on disk already
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def print_json(document: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


async def run_tasks_here(runtime: Any, task_ids: list[str], timeout: float = 24 * 3600) -> list[Any]:
    """Wait for the tasks to end; when no runner exists, be it (in this process) for as long as the wait lasts."""
    import asyncio

    from oboto.services.runner import Runner

    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run(wait_for_lock=False))
    try:
        return [await runtime.tasks.wait(task_id, timeout) for task_id in task_ids]
    finally:
        runner.stop()
        await serving
        await runtime.aclose()
