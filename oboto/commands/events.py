"""`oboto events [--follow] [--json]`: the workspace's event log."""

from __future__ import annotations

import argparse
import os
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import BinaryIO

from oboto.commands.common import EXIT_OK, WorkFailed, add_json_flag, positive_int, warn, workspace_paths

HELP = "print the workspace's event log"
SKIP_FIELDS = {"type", "at", "pid"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing events as they happen")
    parser.add_argument("--tail", type=positive_int, metavar="N", help="only the last N events")
    add_json_flag(parser)


def _open(path: Path) -> BinaryIO | None:
    """The event log open for reading, None when there is none; never read through a link."""
    from oboto.core import safe_open
    from oboto.core.quarantine import describe_unusable

    try:
        return os.fdopen(safe_open.open_file(path, os.O_RDONLY), "rb")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise WorkFailed(f"{path} {describe_unusable(error)}; it was not read") from None


def run(args: Namespace) -> int:
    path = workspace_paths(args).events
    handle = _open(path)
    data = b""
    if handle is not None:
        with handle:
            data = handle.read()
    lines = data.splitlines()
    if args.tail:
        lines = lines[-args.tail:]
    for line in lines:
        _emit(line, path, as_json=args.json)
    if args.follow:
        try:
            _follow(path, len(data), as_json=args.json)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _emit(line: bytes, path: Path, *, as_json: bool) -> None:
    import orjson

    if not line.strip():
        return
    if as_json:
        sys.stdout.write(line.decode("utf-8", errors="replace") + "\n")
    else:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            warn(f"{path}: skipped an unreadable line: {line[:80]!r}")
            return
        details = " ".join(f"{key}={value}" for key, value in event.items() if key not in SKIP_FIELDS)
        stamp = str(event.get("at", ""))[11:19]
        sys.stdout.write(f"{stamp} {event.get('type', '?'):<28} {details}\n")
    sys.stdout.flush()


def _follow(path: Path, offset: int, *, as_json: bool) -> None:
    """Like `tail -f` from `offset`, surviving rotation (the log is renamed and a new one started)."""
    from oboto.core.safe_open import still_at_path

    handle = None
    pending = b""
    while True:
        if handle is None:
            handle = _open(path)
            if handle is not None:
                handle.seek(offset)
                offset = 0  # a log opened after a rotation is read from its start
        if handle is not None:
            chunk = handle.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    _emit(line, path, as_json=as_json)
            elif not still_at_path(handle.fileno(), path):
                handle.close()
                handle = None
                continue
        time.sleep(0.2)
