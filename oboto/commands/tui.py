"""`oboto` with no command: the terminal UI on the workspace."""

from __future__ import annotations

from argparse import Namespace

from oboto.commands.common import EXIT_OK, exit_now, open_runtime


def run(args: Namespace) -> int:
    import asyncio

    from oboto.tui.app import make_app

    app = make_app(runtime=open_runtime(args), commands=getattr(args, "serve_commands", None))
    # Not asyncio.run, and no interpreter shutdown: both join worker threads (a model library still loading),
    # while ctrl+q must end the process at once; the app has stored everything and restored the terminal by now.
    app.run(loop=asyncio.new_event_loop())
    exit_now(app.return_code or EXIT_OK)
