"""The few Linux process controls the sandbox needs (prctl, capabilities), through libc with ctypes."""

from __future__ import annotations

import ctypes
import errno
import functools
import os

PR_SET_DUMPABLE = 4
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
PROCESS_INSPECTION_CAPABILITIES = (CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_PERFMON)
"""Any one of these lets a process read another's /proc/<pid>/environ despite the usual checks."""


@functools.cache
def libc() -> ctypes.CDLL:
    library = ctypes.CDLL(None, use_errno=True)
    library.syscall.restype = ctypes.c_long
    return library


def checked(result: int) -> int:
    """`result` of a libc call, or OSError from errno when it failed."""
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def prctl(option: int, value: int = 0) -> int:
    return checked(libc().prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                                ctypes.c_ulong(0)))


def set_no_new_privs() -> None:
    """Nothing this process execs can gain privileges (setuid, file capabilities); Landlock requires it."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_undumpable() -> None:
    """Other processes of the same user can no longer read this one's memory or /proc/<pid>/environ."""
    prctl(PR_SET_DUMPABLE, 0)


def set_child_subreaper() -> None:
    """Orphaned descendants (setsid, nohup, double forks) are re-parented to this process, not to init."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAPABILITY_VERSION_3 = 0x20080522


def drop_capabilities(capabilities: tuple[int, ...]) -> None:
    """Remove `capabilities` from the bounding and inheritable sets, so a root command loses them at exec."""
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    checked(libc().capget(ctypes.byref(header), data))
    mask = sum(1 << capability for capability in capabilities)
    if data[0].inheritable & mask or data[1].inheritable & (mask >> 32):
        data[0].inheritable &= ~mask & 0xFFFFFFFF
        data[1].inheritable &= ~(mask >> 32) & 0xFFFFFFFF
        checked(libc().capset(ctypes.byref(header), data))
    for capability in capabilities:
        try:
            if prctl(PR_CAPBSET_READ, capability) == 0:
                continue
            prctl(PR_CAPBSET_DROP, capability)
        except OSError as error:
            # EINVAL: a capability this kernel predates; EPERM: an unprivileged user, who holds none anyway.
            if error.errno not in (errno.EINVAL, errno.EPERM):
                raise
