"""The `oboto` command: headless subcommands and the terminal UI launcher.

Command modules import only argparse-level things at the top, so `oboto --help` answers at once;
each imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from oboto import __version__
from oboto.commands.common import add_mode_flag

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
"""128 + SIGPIPE: what a command killed by a closed pipe reports, as `git log | head` does."""

COMMAND_MODULES = {
    "run": "oboto.commands.run",
    "conversations": "oboto.commands.conversations",
    "tasks": "oboto.commands.tasks",
    "schedules": "oboto.commands.schedules",
    "loop": "oboto.commands.loop",
    "questions": "oboto.commands.questions",
    "memory": "oboto.commands.memory",
    "events": "oboto.commands.events",
    "changes": "oboto.commands.changes",
    "diff": "oboto.commands.diff",
    "undo": "oboto.commands.undo",
    "redo": "oboto.commands.redo",
    "daemon": "oboto.commands.daemon",
    "doctor": "oboto.commands.doctor",
    "audit": "oboto.commands.audit",
    "stop": "oboto.commands.stop",
    "resume": "oboto.commands.resume",
    "agents": "oboto.commands.agents",
    "mcp": "oboto.commands.mcp",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from oboto.core.text import one_line

        self.exit(EXIT_USAGE, f"oboto: {one_line(message)} (see `{self.prog} --help`)\n")


def _folder_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is no folder (leave --workspace out for the current folder)")
    return text


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the other commands are there by name alone, so running one command
    imports no other command's module (that was most of a short command's start-up)."""
    parser = _Parser(
        prog="oboto",
        description="A multi-agent workspace for the terminal. With no command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"oboto {__version__}")
    parser.add_argument("--workspace", "-w", metavar="DIR", type=_folder_name,
                        help="the project folder (default: the current folder)")
    add_mode_flag(parser, dest="global_mode")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMAND_MODULES.items():
        if only is not None and name != only:
            commands.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


GLOBAL_OPTIONS_WITH_VALUES = ("--workspace", "-w", "--mode")


def command_named(arguments: Sequence[str]) -> str | None:
    """The command `arguments` run, when their first word that is no global option names one; else None (a
    bare `oboto`, `--help` before any command, or a word that is no command: the whole parser answers those)."""
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word in GLOBAL_OPTIONS_WITH_VALUES:
            index += 2
        elif word in ("-h", "--help", "--"):
            return None
        elif word.startswith("-"):
            index += 1  # --workspace=DIR, -wDIR, --version, or a mistake the parser will name
        else:
            return word if word in COMMAND_MODULES else None
    return None


def main(argv: Sequence[str] | None = None, *, workspace: str | None = None) -> int:
    """Run the `oboto` command; `workspace` (an absolute path) stands for --workspace when the runner runs a
    command handed to it, since a client's relative path means nothing in the runner's folder."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_named(arguments))
    try:
        args = parser.parse_args(arguments)
        from oboto.commands import warm

        if workspace is not None:
            if not warm.wants_runner(args):
                parser.error(f"the runner takes only commands that need a model or the memory store, not {args.command}")
            args.workspace = workspace
        elif (code := warm.forward(args, arguments)) is not None:
            return code
        return _run(args)
    except BrokenPipeError:
        return _stdout_closed()


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; whatever goes wrong becomes one line on stderr, never a traceback."""
    from oboto.commands.common import EXIT_FAILED, UsageError, WorkFailed, warn
    from oboto.core.errors import RequestRefused
    from oboto.core.quarantine import DamagedState

    module = importlib.import_module(COMMAND_MODULES.get(args.command, "oboto.commands.tui"))
    if args.command in (None, "daemon"):
        from oboto.commands.warm import command_handler

        args.serve_commands = command_handler(main)  # the runner takes short commands on its socket
    try:
        code = module.run(args)
        sys.stdout.flush()  # a closed pipe shows here for output still buffered
        return code
    except BrokenPipeError:
        raise
    except (UsageError, RequestRefused) as error:
        warn(str(error))
        return EXIT_USAGE
    except (WorkFailed, DamagedState) as error:
        warn(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as error:
        warn(f"{error.filename + ': ' if error.filename else ''}{error.strerror or error}")
        return EXIT_FAILED
    except Exception as error:  # the last line of defence: a bug still ends in one line, not a traceback
        warn(f"internal error: {type(error).__name__}: {error} (please report it)")
        return EXIT_FAILED


def _stdout_closed() -> int:
    """The reader of our output went away (`oboto events | head -1`): stop quietly, like `git log | head`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit, so no second error either
    except (OSError, ValueError):
        pass
    return EXIT_PIPE_CLOSED


if __name__ == "__main__":
    sys.exit(main())
