"""A small ctypes layer over Linux Landlock: which ABI the kernel offers, and restricting the calling process.

Written by hand because the PyPI bindings are either filesystem-only alphas (`landlock`) or new single-author
releases without users (`landlockpy`, `py-landlock`), and this is three syscalls run in every command's launcher.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterable

from oboto.agent.sandbox.linux import checked, libc, set_no_new_privs

# Landlock's syscall numbers are the same on every architecture that has the unified syscall table.
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

# Filesystem rights (linux/landlock.h); the ABI that introduced each is in the masks below.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15

NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

READ_ACCESS = EXECUTE | READ_FILE | READ_DIR
FILE_ACCESS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
"""The only rights a rule on a non-directory may carry."""

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}


def fs_rights(abi: int) -> int:
    """Every filesystem right the kernel with this ABI knows."""
    return next(mask for version, mask in sorted(_FS_BY_ABI.items(), reverse=True) if abi >= version)


class LandlockUnavailable(Exception):
    """Landlock cannot be used here; the message says why in plain words."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(number: int, *args: object) -> int:
    return checked(libc().syscall(ctypes.c_long(number), *args))


def abi_version() -> int:
    """The Landlock ABI the running kernel offers; LandlockUnavailable (with the reason) when it offers none."""
    system, release = os.uname().sysname, os.uname().release
    if system != "Linux":
        raise LandlockUnavailable(f"Landlock is a Linux feature; this is {system}")
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError as error:
        reasons = {
            errno.ENOSYS: f"this kernel ({release}) has no Landlock (it needs Linux 5.13 or newer "
                          "built with CONFIG_SECURITY_LANDLOCK)",
            errno.EOPNOTSUPP: "Landlock is built into this kernel but turned off at boot (add landlock to the lsm= "
                              "kernel parameter)",
            errno.EPERM: "Landlock is blocked here (a container's seccomp filter refuses its system calls)",
        }
        raise LandlockUnavailable(reasons.get(error.errno, f"the kernel refused Landlock: {error.strerror}")) from None


class Ruleset:
    """What a restricted process may still do: read everywhere, write below `writable`, TCP only if allowed.

    network=False refuses every TCP bind and connect (needs ABI 4; older kernels leave the network open).
    scoped=True refuses signals and abstract unix sockets to processes outside the sandbox (needs ABI 6).
    """

    def __init__(self, abi: int, *, writable: Iterable[str] = (), readable: Iterable[str] = ("/",),
                 network: bool = True, scoped: bool = True) -> None:
        self.abi = abi
        self.writable = list(writable)
        """Folders (or single files such as /dev/null) the process may create, change and delete in."""
        self.readable = list(readable)
        self.network = network
        self.scoped = scoped

    @property
    def restricts_network(self) -> bool:
        return not self.network and self.abi >= 4

    @property
    def restricts_scope(self) -> bool:
        return self.scoped and self.abi >= 6

    def restrict_self(self) -> None:
        """Apply this ruleset to the calling thread for good (and everything it execs or forks), or raise OSError."""
        handled_fs = fs_rights(self.abi)
        attr = _RulesetAttr(
            handled_access_fs=handled_fs,
            handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if self.restricts_network else 0,
            scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if self.restricts_scope else 0,
        )
        # Older kernels reject a larger struct whose extra fields are set; pass only the fields this ABI knows.
        size = 8 if self.abi < 4 else 16 if self.abi < 6 else 24
        ruleset_fd = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        try:
            for path in self.readable:
                self._allow(ruleset_fd, path, READ_ACCESS & handled_fs)
            for path in self.writable:
                self._allow(ruleset_fd, path, handled_fs)
            set_no_new_privs()
            _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
        finally:
            os.close(ruleset_fd)

    @staticmethod
    def _allow(ruleset_fd: int, path: str, access: int) -> None:
        try:
            path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # a listed path that does not exist grants nothing, and refuses nothing either
        try:
            if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
                access &= FILE_ACCESS
            rule = _PathBeneathAttr(allowed_access=access, parent_fd=path_fd)
            _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                     ctypes.c_uint32(0))
        finally:
            os.close(path_fd)

