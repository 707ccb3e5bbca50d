"""The durable writer: one thread that makes many writes durable together (group commit), off the event loop.

A job is a plain function run in the writer's thread. While it runs, every atomic replace and fsynced append it
makes through `replace_file`/`append_durably` (and so every `core.store` save and transaction) is *staged*: the
bytes are written to a temp file (or appended) at once, and the locks it takes are kept. When the queue is empty
(or the batch is full), the batch commits: every staged file is fsynced by a pool of threads at the same time (the
filesystem's journal then commits them together, which costs about what one fsync costs), the temp files are
renamed into place, each folder touched is fsynced once, the locks are released, and only then do the jobs'
after-commit callbacks run and their futures resolve. So an acknowledged write is as durable as before, while
500 records cost one journal commit instead of 500, and the event loop only awaits a future.

Outside a job (another thread, or the writer's own thread between jobs) the same calls write and fsync at once,
exactly as before. Written by hand: no maintained package does group commit of atomic file replaces.

Should the writer itself fail (an error outside any job, while committing or in an after-commit callback), every
job of that batch resolves with `WriterFailed`, what it held is released, the failure is reported in one line
(a `WorkspaceWarning` on each bus given to `report_to`), and the next jobs run as usual: nobody waits forever.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextvars
import fcntl
import os
import queue
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from oboto.core import safe_open
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined, WorkspaceWarning
from oboto.core.locks import lock_file, locks_held_here, open_locked
from oboto.core.quarantine import open_repairing

T = TypeVar("T")

SYNC_THREADS = 16
"""fsyncs in flight at once at commit: enough for the journal to merge them (measured: 500 files 1.5 s → 0.2 s)."""
MAX_BATCH_JOBS = 1000


class WriterFailed(OSError):
    """The writer could not finish the batch a job was in: what the job wrote may not be durable."""


@dataclass
class _Staged:
    """A write of one job, waiting for the commit: a temp file to rename into place, or an appended file."""

    fd: int
    folder_fd: int | None = None
    temp: str | None = None
    name: str | None = None
    folder: Path | None = None

    def release(self) -> None:
        """Close what is still open and remove a temp file not renamed into place (after a failed commit)."""
        if self.folder_fd is not None:
            if self.temp is not None:
                _unlink_quietly(self.temp, self.folder_fd)
            _close_quietly(self.folder_fd)
            self.folder_fd = None
        if self.fd >= 0:
            _close_quietly(self.fd)
            self.fd = -1


@dataclass
class _Job:
    function: Callable[[], Any]
    future: concurrent.futures.Future[Any]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The submitter's context: the job and its after-commit callbacks see it (a warm command's own streams)."""
    staged: list[_Staged] = field(default_factory=list)
    locks: list[int] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    contents: dict[Path, bytes] = field(default_factory=dict)
    """What its staged replaces will hold, so a later job of the batch reads a record as it will be."""
    result: Any = None
    error: BaseException | None = None


class _Batch:
    """The jobs run since the last commit; what they staged, and the locks they hold until it."""

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.held: dict[Path, int] = {}
        self.folders: dict[tuple[Path, Path | None], int] = {}
        """Folders its replaces were staged in, walked once per batch (the walk opens every folder on the way)."""

    def folder(self, path: Path, base: Path | None) -> tuple[int, str]:
        """An fd of `path`'s folder (reached without links, made when missing) and `path`'s name."""
        key = (path.parent, base)
        if key not in self.folders:
            start, names = safe_open.split(path, base)
            self.folders[key] = safe_open.walk(start, names[:-1], create=True)
        return self.folders[key], path.name

    def close_folders(self) -> None:
        for fd in self.folders.values():
            os.close(fd)
        self.folders.clear()

    @property
    def current(self) -> _Job:
        return self.jobs[-1]


_local = threading.local()


def _batch() -> _Batch | None:
    return getattr(_local, "batch", None)


def in_job() -> bool:
    """Whether this thread is running a writer job (its writes are staged and committed with its batch)."""
    return _batch() is not None


def replace_file(path: Path, data: bytes, *, mode: int = 0o600, base: Path | None = None) -> None:
    """Replace `path` atomically: staged within a writer job (durable when the job's future resolves), else now."""
    batch = _batch()
    if batch is None:
        safe_open.write_atomic(path, data, base=base, mode=mode)
        return
    folder_fd, name = batch.folder(path, base)
    handle, temp = safe_open.make_temp(folder_fd, name, mode)
    try:
        os.fchmod(handle, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view):]
    except BaseException:
        os.close(handle)
        os.unlink(temp, dir_fd=folder_fd)
        raise
    batch.current.staged.append(_Staged(handle, os.dup(folder_fd), temp, name, path.parent))
    batch.current.contents[path.absolute()] = data


def append_durably(path: Path, data: bytes) -> tuple[int, FileQuarantined | None]:
    """Append `data` in one write (a damaged file is moved aside first); fsynced now, or at the job's commit."""
    fd, moved = open_repairing(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, data)
        size = os.fstat(fd).st_size
    except BaseException:
        os.close(fd)
        raise
    batch = _batch()
    if batch is None:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        batch.current.staged.append(_Staged(fd))
    return size, moved


def sync_and_close(fd: int) -> None:
    """fsync and close `fd` (an appended log): at the job's commit within a writer job, else now."""
    batch = _batch()
    if batch is not None:
        batch.current.staged.append(_Staged(fd))
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_staged(path: Path) -> bytes | None:
    """What an earlier job of this batch staged for `path` (not yet renamed into place), if anything."""
    batch = _batch()
    if batch is None:
        return None
    key = path.absolute()
    return next((job.contents[key] for job in reversed(batch.jobs) if key in job.contents), None)


def hold_lock(path: Path) -> FileQuarantined | None:
    """Within a job: lock `<path>.lock` until the batch commits (at once when the batch holds it already).

    Returns the event of a damaged lock file moved aside, for the caller to publish. Only for use inside a job.
    """
    batch = _batch()
    assert batch is not None, "hold_lock is for writer jobs; elsewhere use core.locks.locked"
    key = lock_file(path).absolute()
    if key in batch.held:
        return None
    fd, moved = open_locked(key, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if fd is None:
        _commit_earlier_jobs(batch)  # never wait for a lock while holding others: another process may want ours
        fd, moved_now = open_locked(key, fcntl.LOCK_EX)
        moved = moved or moved_now
    assert fd is not None
    batch.held[key] = fd
    batch.current.locks.append(fd)
    return moved


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once what this job wrote is durable and its locks released (at once outside a job)."""
    batch = _batch()
    if batch is None:
        callback()
    else:
        batch.current.after.append(callback)


def _commit_earlier_jobs(batch: _Batch) -> None:
    """Commit every job of `batch` but the running one, so it may wait for a lock holding nothing else."""
    earlier, batch.jobs = batch.jobs[:-1], batch.jobs[-1:]
    if not earlier:
        return
    running_locks = set(batch.current.locks)
    try:
        _commit(earlier)
    except BaseException as error:  # they must not wait forever; the running job fails with them
        _abandon(earlier, error)
        raise
    batch.held = {key: fd for key, fd in batch.held.items() if fd in running_locks}


def _commit(jobs: list[_Job]) -> None:
    """fsync everything the jobs staged (all at once), rename into place, fsync the folders, unlock, resolve."""
    staged = [(job, item) for job in jobs for item in job.staged]
    if staged:
        _sync_all(staged)
    folders: dict[Path, int] = {}
    for job, item in staged:
        try:
            if item.temp is not None and job.error is None:
                os.replace(item.temp, item.name, src_dir_fd=item.folder_fd, dst_dir_fd=item.folder_fd)
                item.temp = None
        except OSError as error:
            job.error = error
        finally:
            if item.folder_fd is not None:
                assert item.folder is not None
                if item.folder in folders or job.error is not None:
                    item.release()
                else:
                    folders[item.folder], item.folder_fd = item.folder_fd, None
    for folder_fd in folders.values():
        try:
            os.fsync(folder_fd)
        except OSError as error:
            for job in jobs:
                job.error = job.error or error
        finally:
            os.close(folder_fd)
    for job in jobs:
        _unlock(job)
    for job in jobs:
        _resolve(job)


def _sync_all(staged: list[tuple[_Job, _Staged]]) -> None:
    def sync(pair: tuple[_Job, _Staged]) -> None:
        job, item = pair
        try:
            os.fsync(item.fd)
        except OSError as error:
            job.error = job.error or error
        finally:
            os.close(item.fd)
            item.fd = -1

    if len(staged) == 1:
        sync(staged[0])
        return
    list(_sync_pool().map(sync, staged))


_pool_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _sync_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The fsync threads, started on first use and kept (starting 16 threads took a commit ~10 ms)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="oboto-fsync")
        return _pool


def _forget_pool_in_child() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _resolve(job: _Job) -> None:
    if job.error is None:
        for callback in job.after:
            try:
                job.context.run(callback)
            except Exception as error:  # the write is durable; a failing reaction must not undo its result
                job.error = error
                break
    if job.future.set_running_or_notify_cancel():
        if job.error is None:
            job.future.set_result(job.result)
        else:
            job.future.set_exception(job.error)


def _unlock(job: _Job) -> None:
    locks, job.locks = job.locks, []
    for fd in locks:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass  # closing the fd releases the lock as well
        _close_quietly(fd)


def _abandon(jobs: list[_Job], error: BaseException) -> None:
    """The writer failed while these jobs were in its batch: free what they hold and fail those not resolved."""
    for job in jobs:
        for item in job.staged:
            item.release()
        _unlock(job)
        _fail(job.future, _writer_failed(error))


def _writer_failed(error: BaseException) -> WriterFailed:
    failure = WriterFailed(f"the write could not be made durable ({_describe(error)})")
    failure.__cause__ = error
    return failure


def _fail(future: concurrent.futures.Future[Any], error: BaseException) -> None:
    if future.done():
        return
    if future.running() or future.set_running_or_notify_cancel():
        future.set_exception(error)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _unlink_quietly(name: str, folder_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=folder_fd)
    except OSError:
        pass


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class DurableWriter:
    """The writer thread: jobs in, group commits out (see the module's docstring)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._buses: weakref.WeakSet[EventBus] = weakref.WeakSet()

    def report_to(self, bus: EventBus) -> None:
        """Report a failure of the writer itself on `bus` (held weakly: a closed Runtime's bus drops out)."""
        self._buses.add(bus)

    def submit(self, function: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `function` in the writer thread; the future resolves once everything it wrote is durable."""
        if threading.current_thread() is self._thread or locks_held_here():
            # From inside a job it joins that job; from a thread holding a lock a job may need, waiting for the
            # writer could wait forever, so it is written here and now, as without the writer.
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            _run_inline(function, future)
            return future
        return self._enqueue(function)

    def _enqueue(self, function: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._ensure_thread()
        self._queue.put(_Job(function, future))
        return future

    def post(self, function: Callable[[], object], report: Callable[[BaseException], None]) -> None:
        """Run `function` as a job nobody waits for (bookkeeping); a failure is handed to `report`."""
        def reported(done: concurrent.futures.Future[object]) -> None:
            if not done.cancelled() and done.exception() is not None:
                report(done.exception())

        self._enqueue(function).add_done_callback(reported)  # queued even from a job: it runs after that one

    def run(self, function: Callable[[], T]) -> T:
        """Run `function` as a job and wait until it is durable (for code off the event loop)."""
        if threading.current_thread() is self._thread:
            return function()  # it joins the running job, as `submit` would have it, without a future to wait on
        return self.submit(function).result()

    async def run_async(self, function: Callable[[], T]) -> T:
        """Run `function` as a job; the event loop waits for its commit without blocking."""
        import asyncio  # here: a command that only reads (`conversations show`) never loads asyncio

        return await asyncio.wrap_future(self.submit(function))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted so far is durable (TimeoutError after `timeout` seconds)."""
        if self._thread is not None and threading.current_thread() is not self._thread:
            self.submit(lambda: None).result(timeout)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                atexit.register(self.flush)  # a daemon thread is stopped at exit: posted jobs are written first
            if self._thread is None or not self._thread.is_alive():
                self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._work, name="oboto-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        batch = _Batch()
        try:
            while True:
                batch = _Batch()
                try:
                    self._run_jobs(batch)
                    _commit(batch.jobs)
                except BaseException as error:  # the writer's own failure: no caller may wait for it forever
                    self._recover(batch, error)
        except BaseException as error:  # recovering failed as well: this thread ends, a new one takes the queue
            for job in batch.jobs:
                _fail(job.future, _writer_failed(error))
        finally:
            with self._start_lock:
                if self._thread is threading.current_thread() and not sys.is_finalizing():
                    self._start_thread()

    def _recover(self, batch: _Batch, error: BaseException) -> None:
        try:
            _abandon(batch.jobs, error)
        except BaseException:  # freeing what the batch held failed too: still, nobody may wait for it
            for job in batch.jobs:
                _fail(job.future, _writer_failed(error))
        self._report(error, len(batch.jobs))

    def _run_jobs(self, batch: _Batch) -> None:
        """Run queued jobs (waiting for the first) until the queue is empty or the batch is full."""
        batch.jobs.append(self._queue.get())
        _local.batch = batch
        try:
            while True:
                job = batch.current
                try:
                    job.result = job.context.run(job.function)
                except BaseException as error:  # the job's own failure goes to its caller
                    job.error = error
                    job.contents.clear()  # none of it will be renamed into place: later jobs read the disk
                if len(batch.jobs) >= MAX_BATCH_JOBS:
                    return
                try:
                    batch.jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    return
        finally:
            _local.batch = None
            batch.close_folders()  # what was staged holds folder fds of its own

    def _report(self, error: BaseException, jobs: int) -> None:
        message = (f"the durable writer failed ({_describe(error)}): the {jobs} job(s) of its batch failed with "
                   "it; later writes go on")
        buses = list(self._buses)
        for bus in buses:
            bus.publish(WorkspaceWarning(message=message))
        if not buses:
            try:
                print(f"oboto: {message}", file=sys.stderr)
            except (OSError, ValueError):
                pass  # no stream to say it on: the callers still get the error


def _run_inline(function: Callable[[], T], future: concurrent.futures.Future[T]) -> None:
    try:
        future.set_result(function())
    except BaseException as error:
        future.set_exception(error)


writer = DurableWriter()
"""The process's one writer (every service shares it, so their writes commit together)."""
