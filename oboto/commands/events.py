"""`oboto events [--follow] [--json]`: the workspace's event log."""

from __future__ import annotations

import argparse
import sys
import time
from argparse import Namespace
from pathlib import Path

from oboto.commands.common import EXIT_OK, add_json_flag, positive_int, warn

HELP = "print the workspace's event log"
SKIP_FIELDS = {"type", "at", "pid"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing events as they happen")
    parser.add_argument("--tail", type=positive_int, metavar="N", help="only the last N events")
    add_json_flag(parser)


def run(args: Namespace) -> int:
    from oboto.core.paths import WorkspacePaths

    path = WorkspacePaths.for_root(args.workspace or ".").events
    data = path.read_bytes() if path.exists() else b""
    lines = data.splitlines()
    if args.tail:
        lines = lines[-args.tail:]
    for line in lines:
        _emit(line, as_json=args.json)
    if args.follow:
        try:
            _follow(path, len(data), as_json=args.json)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _emit(line: bytes, *, as_json: bool) -> None:
    import orjson

    if not line.strip():
        return
    if as_json:
        sys.stdout.write(line.decode("utf-8", errors="replace") + "\n")
    else:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            warn(f"skipped an unreadable event line: {line[:80]!r}")
            return
        details = " ".join(f"{key}={value}" for key, value in event.items() if key not in SKIP_FIELDS)
        stamp = str(event.get("at", ""))[11:19]
        sys.stdout.write(f"{stamp} {event.get('type', '?'):<28} {details}\n")
    sys.stdout.flush()


def _follow(path: Path, offset: int, *, as_json: bool) -> None:
    """Like `tail -f` from `offset`, surviving rotation (the log is renamed and a new one started)."""
    handle = None
    inode = None
    pending = b""
    while True:
        if handle is None and path.exists():
            handle = open(path, "rb")
            inode = path.stat().st_ino
            handle.seek(offset)
        if handle is not None:
            chunk = handle.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    _emit(line, as_json=as_json)
            elif not path.exists() or path.stat().st_ino != inode:
                handle.close()
                handle = None
                if path.exists():
                    handle, inode = open(path, "rb"), path.stat().st_ino
                continue
        time.sleep(0.2)
