"""`python -m oboto.testing --port 0 --script script.json`: serve scripted replies in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from oboto.testing.server import Reply, ScriptedLLM


def load_script(path: Path) -> list[Reply]:
    """The replies in a JSON script file (a list of reply objects)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of replies")
    return [Reply.from_dict(item) for item in data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oboto.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--script", type=Path, help="JSON list of replies, served in order")
    args = parser.parse_args(argv)
    try:
        replies = load_script(args.script) if args.script else []
    except (OSError, ValueError, TypeError) as error:
        print(f"cannot load script: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with ScriptedLLM(replies, port=args.port) as server:
        print(f"listening on {server.base_url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
