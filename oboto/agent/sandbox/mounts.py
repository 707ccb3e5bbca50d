"""A read-only view of oboto's state folder for one command: its own mount namespace (inside a user namespace
when oboto is not root) in which `.oboto/` is bind-mounted read-only. Landlock cannot do this, because a
writable folder is writable all the way down; a mount can.

Made in the command's process before Landlock (which forbids mounting) and before exec; after exec the command
holds no capability that could undo it (a non-root user's are gone at exec, root's CAP_SYS_ADMIN is dropped),
and mounts copied into any namespace it makes itself are locked by the kernel.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

from oboto.agent.sandbox.linux import checked, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

_KEPT_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
               (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
"""Flags of the mount a folder is on that a remount must repeat: a user namespace may not clear them."""


def _mount(source: str | None, target: str, flags: int) -> None:
    encode = os.fsencode
    checked(libc().mount(encode(source) if source else None, encode(target), None, ctypes.c_ulong(flags), None))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _own_mount_namespace() -> None:
    """A mount namespace of this process's own; for a user other than root, inside a user namespace where it
    keeps its own uid and gid (and so owns exactly the files it owned)."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        checked(libc().unshare(CLONE_NEWNS))
        return
    checked(libc().unshare(CLONE_NEWUSER | CLONE_NEWNS))
    _write("/proc/self/setgroups", "deny")  # the kernel's condition for an unprivileged gid_map
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def make_read_only(folders: Iterable[str]) -> None:
    """From now on this process (and what it execs) sees each of `folders` read-only; OSError if the kernel
    refuses (no user namespaces for unprivileged users, a container's seccomp filter)."""
    _own_mount_namespace()
    _mount(None, "/", MS_REC | MS_PRIVATE)  # nothing mounted here may show up outside
    for folder in folders:
        kept = os.statvfs(folder).f_flag
        _mount(folder, folder, MS_BIND | MS_REC)
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for statvfs_flag, mount_flag in _KEPT_FLAGS:
            if kept & statvfs_flag:
                flags |= mount_flag
        _mount(None, folder, flags)
