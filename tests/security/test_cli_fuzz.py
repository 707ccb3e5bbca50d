"""Every `oboto` subcommand — found by walking the argparse parser, so a new one is covered without listing it
here — with missing, empty, huge, unicode, control-character and multi-line arguments: each ends with exit 0
(valid input), 1 (a refusal of the work) or 2 (bad input, with exactly one line on stderr), and never with a
traceback. The calls run in this process (cli.main); a few spot checks run the real `oboto` command.

A NUL byte cannot be in argv (execve ends every argument at the first NUL), so it is given where input can carry
one: `oboto run -` reads the prompt from standard input, and a config value can hold one as a TOML escape.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterator

import pytest

from cli_helpers import oboto
from oboto import cli
from oboto.core.paths import WorkspacePaths

NEVER_ENDING = {("daemon",)}
"""Runs until signalled: checked by the subprocess spot check below instead."""
SLOW = {("memory", "add"), ("memory", "search")}
"""Load the embedding model for valid input: given only values refused before that."""

VALUES = {
    "empty": "",
    "huge number": "9" * 400,
    "hostile text": "ünï 🙂 \u202eevil\u202c \x1b[2J\x1b[31mred\x07\nsecond line",
    "long": "x" * 100_000,
}
"""Positional arguments get each of these; options all but the huge number (the `long` value covers length)."""
OPTION_VALUES = ("empty", "hostile text", "long")
SLOW_VALUES = ("empty", "long")


def leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                                             argparse.ArgumentParser]]:
    """Every subcommand that takes no further subcommand, with its parser."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        yield prefix, parser
    for group in groups:
        for name, child in group.choices.items():
            yield from leaves(child, (*prefix, name))


def positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if not action.option_strings
            and not isinstance(action, argparse._SubParsersAction)]


def value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if action.option_strings and action.nargs != 0
            and not isinstance(action, argparse._HelpAction)]


def cases() -> Iterator[object]:
    for command, parser in leaves(cli.build_parser()):
        if not command or command in NEVER_ENDING:
            continue
        yield pytest.param(command, (), id=f"{' '.join(command)}: nothing more")
        for name in VALUES if command not in SLOW else SLOW_VALUES:
            filled = tuple(VALUES[name] for _ in positionals(parser))
            if filled:
                yield pytest.param(command, filled, id=f"{' '.join(command)}: {name} positionals")
        plain = tuple("x" for _ in positionals(parser))
        for option in value_options(parser):
            for name in OPTION_VALUES if command not in SLOW else SLOW_VALUES:
                yield pytest.param(command, (*plain, option.option_strings[0], VALUES[name]),
                                   id=f"{' '.join(command)} {option.option_strings[0]}: {name}")


def run_cli(*argv: str, stdin: str = "") -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
            _stdin(stdin):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code if isinstance(exit.code, int) else 2
    return code, err.getvalue()


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def assert_handled(code: int, err: str) -> None:
    assert code in (0, 1, 2), f"exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    for line in err.splitlines():
        assert line.startswith("oboto: "), f"not one plain line per message:\n{err}"
    if code == 2:
        assert err.count("\n") == 1, f"bad input gets exactly one line:\n{err}"


@pytest.mark.parametrize("command,arguments", list(cases()))
def test_every_subcommand_handles_bad_arguments_plainly(
    workspace: WorkspacePaths, command: tuple[str, ...], arguments: tuple[str, ...]
) -> None:
    assert_handled(*run_cli("--workspace", str(workspace.root), *command, *arguments))


@pytest.mark.parametrize("name", list(VALUES))
def test_the_workspace_option_handles_bad_folders_plainly(name: str) -> None:
    code, err = run_cli("--workspace", VALUES[name], "conversations", "list")
    assert_handled(code, err)
    assert code == 2, "no such folder, or no name at all: bad input"


def test_a_nul_byte_in_a_prompt_read_from_standard_input_is_refused(workspace: WorkspacePaths) -> None:
    code, err = run_cli("--workspace", str(workspace.root), "run", "-", stdin="read this\x00and this")
    assert code == 2 and err == "oboto: the prompt contains a NUL byte; remove it and try again\n"


def test_a_nul_byte_in_a_config_value_is_handled(workspace: WorkspacePaths) -> None:
    workspace.config.write_text('model = "openai/gpt\\u0000-4o"\n[agent]\npersona = "a\\u0000b"\n')
    for argv in (("doctor",), ("conversations", "list"), ("agents", "list")):
        assert_handled(*run_cli("--workspace", str(workspace.root), *argv))


@pytest.mark.parametrize("argv", [("daemon", "--quiet", "extra"), ("tasks", "spawn"), ("schedules", "create",
                                   "--name", "n", "--query", "q", "--every", "9" * 400 + "d")])
def test_the_real_command_answers_bad_input_in_one_line(workspace: WorkspacePaths, argv: tuple[str, ...]) -> None:
    result = oboto(workspace.root, *argv)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("oboto: ")
    assert "Traceback" not in result.stderr
