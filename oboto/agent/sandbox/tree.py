"""Finding and ending every descendant of a process, read from /proc."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

_POLL_SECONDS = 0.01


def proc_entries(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, contents of /proc/<pid>/<name>) for every process; those that end while we look are skipped."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{name}", "rb") as handle:
                yield int(entry), handle.read()
        except OSError:
            continue


def _parents() -> dict[int, int]:
    """pid → parent pid of every live (not zombie) process."""
    parents: dict[int, int] = {}
    for pid, line in proc_entries("stat"):
        # Fields after the parenthesised command name (which may itself hold spaces): state, ppid, ...
        state, ppid = line[line.rindex(b")") + 2 :].split()[:2]
        if state not in (b"Z", b"X"):
            parents[pid] = int(ppid)
    return parents


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren, …)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    pending = list(children.get(root, ()))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def reap_children() -> list[tuple[int, int]]:
    """Collect every child that has ended: (pid, wait status) pairs; never blocks."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def has_children() -> bool:
    """Whether this process still has a child, running or not yet reaped."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def end_descendants(grace_seconds: float, on_reaped: Callable[[int, int], None], give_up_after: float = 10.0) -> bool:
    """SIGTERM every descendant, SIGKILL those alive after `grace_seconds`, reap all; False if some never ended.

    Must run in a child subreaper, so that descendants whose parents die are re-parented here and stay found.
    """
    me = os.getpid()
    deadline = time.monotonic() + grace_seconds
    signal_all(descendants(me), signal.SIGTERM)
    while time.monotonic() < deadline and descendants(me):
        for pid, status in reap_children():
            on_reaped(pid, status)
        time.sleep(_POLL_SECONDS)
    give_up = time.monotonic() + give_up_after
    while True:
        alive = descendants(me)
        if alive:
            # Stop first, so none can fork between our listing and the kill.
            signal_all(alive, signal.SIGSTOP)
            signal_all(descendants(me), signal.SIGKILL)
        for pid, status in reap_children():
            on_reaped(pid, status)
        if not alive and not has_children():
            return True
        if time.monotonic() > give_up:
            return False
        time.sleep(_POLL_SECONDS)
