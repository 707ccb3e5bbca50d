"""The durable writer (core.durable): acknowledged only once durable, group commit, no fsync on the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from pathlib import Path

import pytest

from oboto.core import durable
from oboto.core.locks import locked
from oboto.core.models import Document
from oboto.core.store import document_transaction, load_document
from oboto.testing import Reply, ScriptedLLM, async_wait_until, wait_until
from runtime_helpers import runner


class Counter(Document):
    value: int = 0


def hold_writer() -> threading.Event:
    """Keep the writer busy until the returned event is set, so the jobs queued meanwhile share one batch."""
    release = threading.Event()
    durable.writer.submit(release.wait)
    return release


def bump(path: Path) -> int:
    with document_transaction(path, Counter, None, default=Counter) as tx:
        tx.doc.value += 1
    return tx.doc.value


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object, int]]:
    """Every fsync and replace made, in order: (call, what, thread id)."""
    calls: list[tuple[str, object, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", fd, threading.get_ident()))
        real_fsync(fd)

    def replace(src, dst, **kwargs) -> None:
        calls.append(("replace", dst, threading.get_ident()))
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_a_write_is_fsynced_and_in_place_before_its_future_resolves(tmp_path: Path, syscalls) -> None:
    target = tmp_path / "record.json"
    seen_when_done: list[bytes] = []
    future = durable.writer.submit(lambda: durable.replace_file(target, b"new\n"))
    future.add_done_callback(lambda _done: seen_when_done.append(target.read_bytes()))
    future.result()
    kinds = [kind for kind, _what, _thread in syscalls]
    wait_until(lambda: seen_when_done, timeout=10)  # result() may return before the writer runs done-callbacks
    assert seen_when_done == [b"new\n"]
    assert kinds == ["fsync", "replace", "fsync"], "file fsynced, renamed into place, then its folder fsynced"


def test_many_jobs_queued_together_commit_with_one_folder_sync(tmp_path: Path, syscalls) -> None:
    release = hold_writer()
    futures = [durable.writer.submit(lambda index=index: durable.replace_file(tmp_path / f"{index}.json", b"x"))
               for index in range(40)]
    release.set()
    for future in futures:
        future.result()
    renames = [what for kind, what, _thread in syscalls if kind == "replace"]
    fsyncs = [what for kind, what, _thread in syscalls if kind == "fsync"]
    assert sorted(renames) == sorted(f"{index}.json" for index in range(40))
    assert len(fsyncs) == 41, "one fsync per file and a single one for the folder they share"
    assert all((tmp_path / f"{index}.json").read_bytes() == b"x" for index in range(40))


def test_a_later_job_of_a_batch_reads_what_an_earlier_one_staged(tmp_path: Path) -> None:
    path = tmp_path / "counter.json"
    release = hold_writer()
    futures = [durable.writer.submit(lambda: bump(path)) for _ in range(5)]
    release.set()
    assert [future.result() for future in futures] == [1, 2, 3, 4, 5]
    assert load_document(path, Counter, None) == Counter(value=5)


def test_a_failed_job_writes_nothing_and_its_batch_mates_still_commit(tmp_path: Path) -> None:
    def half_then_fail() -> None:
        durable.replace_file(tmp_path / "half.json", b"half")
        raise ValueError("refused")

    release = hold_writer()
    failing = durable.writer.submit(half_then_fail)
    fine = durable.writer.submit(lambda: durable.replace_file(tmp_path / "fine.json", b"fine"))
    release.set()
    with pytest.raises(ValueError, match="refused"):
        failing.result()
    fine.result()
    assert not (tmp_path / "half.json").exists() and (tmp_path / "fine.json").read_bytes() == b"fine"
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")], "no temp file is left behind"


def test_a_later_job_never_builds_on_what_a_failed_job_staged(tmp_path: Path) -> None:
    """The failed job's record is never written, so a batch-mate must read the record as it is on disk."""
    path = tmp_path / "counter.json"

    def bump_then_fail() -> None:
        bump(path)
        raise ValueError("refused")

    release = hold_writer()
    failing = durable.writer.submit(bump_then_fail)
    after = durable.writer.submit(lambda: bump(path))
    release.set()
    with pytest.raises(ValueError, match="refused"):
        failing.result()
    assert after.result() == 1
    assert load_document(path, Counter, None) == Counter(value=1)


def test_a_job_never_waits_for_a_lock_while_its_batch_holds_another(tmp_path: Path) -> None:
    """Another holder of B that waits for A (held by the batch) must not deadlock the writer's job on B."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    holding_b, done = threading.Event(), threading.Event()

    def other_process() -> None:
        with locked(second):
            holding_b.set()
            with locked(first):  # free only once the batch holding it commits
                done.set()

    release = hold_writer()
    on_a = durable.writer.submit(lambda: bump(first))
    on_b = durable.writer.submit(lambda: bump(second))
    helper = threading.Thread(target=other_process)
    helper.start()
    holding_b.wait()
    release.set()
    assert on_a.result(timeout=30) == 1 and on_b.result(timeout=30) == 1
    helper.join(timeout=30)
    assert done.is_set()


def test_outside_a_job_writes_are_durable_at_once(tmp_path: Path, syscalls) -> None:
    durable.replace_file(tmp_path / "now.json", b"now")
    assert (tmp_path / "now.json").read_bytes() == b"now"
    assert [kind for kind, _what, _thread in syscalls] == ["fsync", "replace", "fsync"]


async def test_a_task_run_makes_no_fsync_on_the_event_loop_thread(workspace, llm_env: ScriptedLLM, syscalls) -> None:
    llm_env.respond_with(lambda request: Reply(text="done"))
    loop_thread = threading.get_ident()
    async with runner(workspace) as runtime:
        syscalls.clear()
        records = [await runtime.tasks.spawn_async(f"job {index}", f"job {index}") for index in range(5)]
        await async_wait_until(lambda: all(runtime.tasks.get(record.id).notice_posted for record in records),
                               timeout=30)
        await runtime.memory.drain()
        await asyncio.to_thread(durable.writer.flush)
        on_loop = [call for call in syscalls if call[2] == loop_thread and call[0] == "fsync"]
        elsewhere = [call for call in syscalls if call[2] != loop_thread and call[0] == "fsync"]
    assert on_loop == []
    assert elsewhere, "the records were still made durable, by the writer"
    notices = "\n".join(message.content for message in runtime.conversations.messages("chat")
                         if message.marker == "task-notice")
    assert all(record.id in notices for record in records), "every end was still told in chat"


def test_a_job_and_its_after_commit_callbacks_see_the_submitters_context(tmp_path: Path) -> None:
    """A command the warm runner serves prints from its writer jobs' reactions: they must reach its own streams."""
    whose: contextvars.ContextVar[str] = contextvars.ContextVar("whose", default="the writer's")
    seen: list[str] = []

    def job() -> None:
        seen.append(whose.get())
        durable.replace_file(tmp_path / "record.json", b"{}")
        durable.after_commit(lambda: seen.append(whose.get()))

    def submitter() -> None:
        whose.set("the request's")
        durable.writer.run(job)

    thread = threading.Thread(target=submitter)
    thread.start()
    thread.join()
    assert seen == ["the request's", "the request's"]
    assert whose.get() == "the writer's"


def fail_once(monkeypatch: pytest.MonkeyPatch, name: str, error: BaseException) -> None:
    """Make `durable.<name>` raise `error` the next time it is called, and work as before after that."""
    real = getattr(durable, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(durable, name, failing)


@pytest.fixture
def warnings() -> list[str]:
    """What the writer reports on a bus."""
    from oboto.core.bus import EventBus
    from oboto.core.events import WorkspaceWarning

    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(lambda event: heard.append(event.message), WorkspaceWarning)
    durable.writer.report_to(bus)
    warnings.bus = bus  # kept alive for the test: the writer holds buses weakly
    return heard


def test_a_commit_that_fails_unexpectedly_fails_its_batch_and_the_next_jobs_still_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warnings: list[str]) -> None:
    fail_once(monkeypatch, "_sync_all", RuntimeError("injected"))
    release = hold_writer()
    first = durable.writer.submit(lambda: bump(tmp_path / "a.json"))
    second = durable.writer.submit(lambda: durable.append_durably(tmp_path / "log.jsonl", b"line\n"))
    release.set()
    for future in (first, second):
        with pytest.raises(durable.WriterFailed, match="RuntimeError: injected"):
            future.result(timeout=30)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")], "its temp files are removed"
    assert durable.writer.run(lambda: bump(tmp_path / "a.json")) == 1, "the lock was released, the writer goes on"
    assert load_document(tmp_path / "a.json", Counter, None).value == 1
    assert [line for line in warnings if "durable writer failed" in line] == [
        "the durable writer failed (RuntimeError: injected): the 3 job(s) of its batch failed with it; "
        "later writes go on"]


def test_when_freeing_a_failed_batch_fails_too_nobody_waits_forever(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warnings: list[str]) -> None:
    fail_once(monkeypatch, "_commit", RuntimeError("commit broke"))
    fail_once(monkeypatch, "_abandon", OSError("cleanup broke"))
    failed = durable.writer.submit(lambda: durable.replace_file(tmp_path / "x.json", b"x"))
    with pytest.raises(durable.WriterFailed, match="commit broke"):
        failed.result(timeout=30)
    assert durable.writer.run(lambda: durable.replace_file(tmp_path / "y.json", b"y")) is None
    assert (tmp_path / "y.json").read_bytes() == b"y"
    assert any("commit broke" in line for line in warnings)


def test_an_after_commit_callback_that_raises_anything_fails_only_what_was_not_resolved(
        tmp_path: Path, warnings: list[str]) -> None:
    class Escaping(BaseException):
        """Not an Exception: it gets past the callback guard into the writer's own loop."""

    def job_with_bad_reaction() -> None:
        durable.replace_file(tmp_path / "done.json", b"done")
        durable.after_commit(lambda: (_ for _ in ()).throw(Escaping("reaction broke")))

    release = hold_writer()
    bad = durable.writer.submit(job_with_bad_reaction)
    later = durable.writer.submit(lambda: durable.replace_file(tmp_path / "later.json", b"later"))
    release.set()
    with pytest.raises(durable.WriterFailed):
        bad.result(timeout=30)
    with pytest.raises(durable.WriterFailed):
        later.result(timeout=30)
    assert (tmp_path / "done.json").read_bytes() == b"done", "what was committed stays committed"
    durable.writer.run(lambda: durable.replace_file(tmp_path / "after.json", b"after"))
    assert (tmp_path / "after.json").read_bytes() == b"after"
    assert any("Escaping: reaction broke" in line for line in warnings)


def test_a_job_that_raises_system_exit_fails_alone_and_the_writer_goes_on(tmp_path: Path) -> None:
    durable.writer.run(lambda: None)
    thread = durable.writer._thread

    def exits() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        durable.writer.run(exits)
    assert durable.writer._thread is thread and thread.is_alive()
    durable.writer.run(lambda: durable.replace_file(tmp_path / "z.json", b"z"))
    assert (tmp_path / "z.json").read_bytes() == b"z"


def test_a_writer_thread_that_dies_fails_its_batch_and_another_thread_runs_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = durable.DurableWriter()
    fail_once(monkeypatch, "_commit", RuntimeError("commit broke"))
    monkeypatch.setattr(writer, "_recover", lambda batch, error: (_ for _ in ()).throw(MemoryError()))
    doomed = writer.submit(lambda: durable.replace_file(tmp_path / "doomed.json", b"doomed"))
    first_thread = writer._thread
    with pytest.raises(durable.WriterFailed, match="MemoryError"):
        doomed.result(timeout=30)
    wait_until(lambda: writer._thread is not first_thread)
    assert writer.submit(lambda: durable.replace_file(tmp_path / "next.json", b"next")).result(timeout=30) is None
    assert (tmp_path / "next.json").read_bytes() == b"next"
