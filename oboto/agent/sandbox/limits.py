"""Resource limits (setrlimit) for one command, applied in its process before exec."""

from __future__ import annotations

import os
import resource

from oboto.agent.sandbox.tree import proc_entries

CPU_KILL_MARGIN_SECONDS = 5
"""After the soft CPU limit the command gets SIGXCPU; this much later the kernel SIGKILLs it."""


def _tasks_of_user(uid: int) -> int:
    """Threads that count against RLIMIT_NPROC for `uid` right now (the kernel counts every task of the user)."""
    count = 0
    for _pid, status in proc_entries("status"):
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if int(fields[b"Uid"].split()[0]) == uid:
            count += int(fields[b"Threads"])
    return count


def _lower(limit: int, soft: int, hard: int | None = None) -> None:
    """Set a limit no higher than the one already in force (an unprivileged process cannot raise it)."""
    current_soft, current_hard = resource.getrlimit(limit)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    soft = min(soft, hard)
    resource.setrlimit(limit, (soft, hard))


def apply_limits(
    *, address_space_bytes: int | None, cpu_seconds: int | None, file_size_bytes: int | None, processes: int | None
) -> None:
    """Limit the calling process (and what it execs); None leaves that resource as it is."""
    if address_space_bytes is not None:
        _lower(resource.RLIMIT_AS, address_space_bytes)
    if cpu_seconds is not None:
        _lower(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + CPU_KILL_MARGIN_SECONDS)
    if file_size_bytes is not None:
        _lower(resource.RLIMIT_FSIZE, file_size_bytes)
    if processes is not None:
        uid = os.getuid()
        # RLIMIT_NPROC counts all of the user's tasks, so the command's allowance goes on top of what already runs.
        _lower(resource.RLIMIT_NPROC, processes + (_tasks_of_user(uid) if uid != 0 else 0))
