"""Opening files without following links, so no check-then-use race can lead a read or a write elsewhere.

A path is walked from a trusted folder one component at a time, each folder opened with
O_NOFOLLOW | O_DIRECTORY relative to the one before (`dir_fd`), and the file is opened, created, renamed
or replaced relative to the last folder. A folder swapped for a symlink mid-way makes the walk fail; it
never makes it leave. The trusted folder is the workspace root for anything in `.oboto/`, the given
`base` (the workspace root, for the file tools), or else the file's own folder.

Written by hand because Python has no openat2/RESOLVE_BENEATH, and no maintained package does this walk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OBOTO_DIR_NAME = ".oboto"
TEMP_SUFFIX = ".tmp"
"""Temp files of atomic writes are `.<name>.<random>.tmp` beside their target."""

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO put in a file's place never hangs us


class UnsafePath(OSError):
    """Something oboto does not go through or use: a symbolic link, or the wrong kind of file in a place."""

    def __init__(self, path: Path | str, what: str, code: int = errno.ELOOP) -> None:
        super().__init__(code, what, str(path))

    def __str__(self) -> str:
        return f"{self.filename} {self.strerror}"


def what_is_there(path: Path | str, *, dir_fd: int | None = None) -> str:
    """The plain words for what stands at `path` when it is not what was expected."""
    try:
        info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as error:
        return f"cannot be looked at ({error.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link (oboto does not follow links here)"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if stat.S_ISREG(info.st_mode):
        return "is a file, not a folder"
    return "is not a regular file (a device, socket or pipe)"


def split(path: Path, base: Path | None = None) -> tuple[Path, tuple[str, ...]]:
    """The trusted folder to walk from and the names to walk to reach `path` (the last one is `path`'s own)."""
    if base is not None:
        names = path.relative_to(base).parts
    else:
        parts = path.parts
        states = [index for index, part in enumerate(parts) if part == OBOTO_DIR_NAME]
        if states:
            base, names = Path(*parts[: states[-1]]), parts[states[-1]:]
        else:
            base, names = path.parent, (path.name,)
    if not names or any(name in ("", ".", "..") for name in names):
        raise ValueError(f"{path} cannot be opened below {base}")
    return base, names


def _open_base(base: Path, *, create: bool) -> int:
    """The trusted folder (made with its parents when missing and `create`: it is the person's own path)."""
    where = base if str(base) else "."
    try:
        return os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            raise
    os.makedirs(where, exist_ok=True)  # only when missing: every open in `.oboto/` starts here
    return os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _named(error: OSError, where: Path | str) -> OSError:
    """`error` naming the whole path, not just the last name opened relative to a folder fd."""
    return type(error)(error.errno, error.strerror, str(where))


def _step(fd: int, name: str, where: Path, *, create: bool) -> int:
    """The folder `name` inside the folder `fd`, never through a link; created when missing and `create`."""
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=fd)
    except NotADirectoryError:
        raise UnsafePath(where, what_is_there(name, dir_fd=fd), errno.ENOTDIR) from None
    except FileNotFoundError as error:
        if not create:
            raise _named(error, where) from None
    except OSError as error:
        raise _named(error, where) from None
    try:
        os.mkdir(name, 0o755, dir_fd=fd)
    except FileExistsError:
        pass  # made meanwhile by someone else; opened below like any folder, never followed
    except OSError as error:
        raise _named(error, where) from None
    return _step(fd, name, where, create=False)


def walk(base: Path, names: tuple[str, ...], *, create: bool) -> int:
    """An fd of the folder `base/names…`, reached without following any link below `base`."""
    fd = _open_base(base, create=create)
    where = base
    try:
        for name in names:
            where = where / name
            child = _step(fd, name, where, create=create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def folder(path: Path, *, base: Path | None = None, create: bool = False) -> Iterator[int]:
    """An fd of the folder at `path` (reached without links; made when missing and `create`), closed after."""
    start, names = split(path, base)
    fd = walk(start, names, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def parent_folder(path: Path, *, base: Path | None = None, create: bool = False) -> Iterator[tuple[int, str]]:
    """(fd of `path`'s folder, `path`'s name): what every operation on the file itself is done relative to."""
    start, names = split(path, base)
    fd = walk(start, names[:-1], create=create)
    try:
        yield fd, names[-1]
    finally:
        os.close(fd)


def open_in(fd: int, name: str, flags: int, mode: int, where: Path | str) -> int:
    """Open the regular file `name` in the folder `fd`; UnsafePath when a link or anything but a file is there."""
    try:
        handle = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise UnsafePath(where, what_is_there(name, dir_fd=fd), error.errno) from None
        raise _named(error, where) from None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UnsafePath(where, what_is_there(name, dir_fd=fd), errno.EISDIR)
    os.set_blocking(handle, True)
    return handle


def open_file(path: Path, flags: int, mode: int = 0o644, *, base: Path | None = None,
              create_dirs: bool = False) -> int:
    """An fd of the regular file at `path`, opened with `flags` without following any link on the way."""
    with parent_folder(path, base=base, create=create_dirs) as (fd, name):
        return open_in(fd, name, flags, mode, path)


def read_bytes(path: Path, *, base: Path | None = None) -> bytes:
    fd = open_file(path, os.O_RDONLY, base=base)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def append(path: Path, data: bytes, *, fsync: bool, base: Path | None = None) -> int:
    """Append `data` in one write (O_APPEND keeps concurrent writers' lines whole); returns the new size."""
    fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644, base=base, create_dirs=True)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def make_temp(fd: int, name: str, mode: int) -> tuple[int, str]:
    """A new temp file `.<name>.<random>.tmp` in the folder `fd` (fd, name), for an atomic replace of `name`."""
    while True:
        temp = f".{name}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, mode, dir_fd=fd), temp
        except FileExistsError:
            continue


def write_atomic(path: Path, data: bytes, *, base: Path | None = None, mode: int = 0o600,
                 create_dirs: bool = True) -> None:
    """Replace `path` with `data` so a crash leaves the old or the new file, never a torn one.

    The temp file is made beside the target, in the folder the walk holds open, and removed on failure;
    the target is replaced by a rename inside that folder, so a link put in its place is replaced, not followed.
    """
    with parent_folder(path, base=base, create=create_dirs) as (fd, name):
        handle, temp = make_temp(fd, name, mode)
        try:
            try:
                os.fchmod(handle, mode)  # the umask must not change a mode the caller chose
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view):]
                os.fsync(handle)
            finally:
                os.close(handle)
            try:
                os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except IsADirectoryError:
                raise UnsafePath(path, what_is_there(name, dir_fd=fd), errno.EISDIR) from None
        except BaseException:
            try:
                os.unlink(temp, dir_fd=fd)
            except FileNotFoundError:
                pass
            raise
        os.fsync(fd)


def rename_here(path: Path, new_name: str, *, base: Path | None = None) -> Path:
    """Rename what stands at `path` (a link is renamed, not followed) within its folder; returns the new path."""
    with parent_folder(path, base=base) as (fd, name):
        os.rename(name, new_name, src_dir_fd=fd, dst_dir_fd=fd)
        os.fsync(fd)
    return path.with_name(new_name)


def still_at_path(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is still the file at `path` (not removed or replaced since it was opened)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def fsync_folder(path: Path, *, base: Path | None = None) -> None:
    """Make a rename or a new file in the folder `path` durable."""
    with folder(path, base=base) as fd:
        os.fsync(fd)


