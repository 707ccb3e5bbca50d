"""`oboto` with no command: the terminal UI on the workspace."""

from __future__ import annotations

from argparse import Namespace

from oboto.commands.common import EXIT_OK, open_runtime


def run(args: Namespace) -> int:
    from oboto.tui.app import make_app

    make_app(runtime=open_runtime(args), commands=getattr(args, "serve_commands", None)).run()
    return EXIT_OK
