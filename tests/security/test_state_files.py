"""Findings 2 and 3 replayed: links in `.oboto/` and a folder swapped for a link mid-write.

Appends to the event log, the audit log, a task's output log and a conversation used to follow a symlink to
wherever it pointed (as root: /etc/passwd), readers printed a link's target, and write_file, racing a folder
swapped for a symlink, put files and temp files outside the workspace. Now nothing goes through a link: the
writer moves the link aside and starts a fresh file, the reader refuses, and the race can only make a write fail.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from attack_helpers import files_under, full_control
from oboto import cli
from oboto.agent.tools import file_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.config import Settings
from oboto.core.events import FileQuarantined
from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import Message
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM

TARGET_TEXT = "root:x:0:0:root:/root:/bin/bash\n"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A file outside the workspace standing for /etc/passwd: nothing oboto does may change it."""
    path = tmp_path / "passwd"
    path.write_text(TARGET_TEXT)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def untouched(path: Path) -> bool:
    return path.read_text() == TARGET_TEXT and path.stat().st_mtime == 1_000_000_000


def link(path: Path, target: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def quarantined(events: list, path: Path) -> list[FileQuarantined]:
    return [event for event in events if isinstance(event, FileQuarantined) and event.path == str(path)]


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`oboto ARGV…` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


# ----- appends through a symlinked state file -----------------------------------------------------


def test_the_event_log_as_a_link_is_moved_aside_not_appended_to(workspace: WorkspacePaths, target: Path) -> None:
    link(workspace.events, target)
    runtime = Runtime.open(workspace.root)
    events: list = []
    runtime.bus.subscribe(events.append)
    runtime.conversations.create("attack")
    assert untouched(target)
    assert not workspace.events.is_symlink() and "conversation:created" in workspace.events.read_text()
    [moved] = quarantined(events, workspace.events)
    assert "symbolic link" in moved.reason and Path(moved.moved_to).is_symlink()


async def test_the_audit_log_as_a_link_is_moved_aside_not_appended_to(workspace: WorkspacePaths, target: Path) -> None:
    runtime = Runtime.open(workspace.root)
    events: list = []
    runtime.bus.subscribe(events.append)
    (workspace.root / "notes.txt").write_text("hello\n")
    link(workspace.audit, target)
    ctx = runtime.tool_context(conversation="chat")
    result = await runtime.tools.execute("read_file", {"path": "notes.txt"}, ctx)
    assert result.ok and untouched(target)
    assert '"tool":"read_file"' in workspace.audit.read_text()
    assert quarantined(events, workspace.audit)


def test_a_conversation_as_a_link_is_moved_aside_not_appended_to(workspace: WorkspacePaths, target: Path) -> None:
    runtime = Runtime.open(workspace.root)
    events: list = []
    runtime.bus.subscribe(events.append)
    chat = workspace.conversation_file("chat")
    link(chat, target)
    runtime.conversations.append("chat", Message(role="user", content="hello"))
    assert untouched(target)
    assert not chat.is_symlink() and "hello" in chat.read_text()
    assert quarantined(events, chat)
    assert [message.content for message in runtime.conversations.messages("chat")] == ["hello"]


async def test_a_task_log_as_a_link_is_moved_aside_not_appended_to(
    workspace: WorkspacePaths, llm_env: ScriptedLLM, target: Path
) -> None:
    llm_env.add(Reply(text="all done"))
    runtime = Runtime.open(workspace.root)
    events: list = []
    runtime.bus.subscribe(events.append)
    record = runtime.tasks.spawn("write a log", "say something")
    link(workspace.task_log(record.id), target)  # planted before the runner starts the task
    runtime.activate_runner()
    try:
        done = await runtime.tasks.wait(record.id, 20)
    finally:
        await runtime.deactivate_runner("the test finished")
    assert done.status == "completed" and untouched(target)
    assert "all done" in runtime.tasks.output(record.id).text
    assert quarantined(events, workspace.task_log(record.id))


def test_a_lock_file_as_a_link_is_never_truncated(workspace: WorkspacePaths, target: Path) -> None:
    """The runner lock writes its pid into the file it locks; through a link that would overwrite the target."""
    from oboto.core.locks import ProcessLock

    link(workspace.runner_lock, target)
    lock = ProcessLock(workspace.runner_lock)
    assert lock.try_acquire() and lock.moved is not None
    lock.release()
    assert untouched(target) and not workspace.runner_lock.is_symlink()


# ----- readers refuse links ----------------------------------------------------------------------


def test_oboto_events_refuses_a_linked_log_plainly(workspace: WorkspacePaths, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"type": "x", "secret": "hunter2-outside"}\n')
    link(workspace.events, secret)
    code, out, err = run_cli("--workspace", str(workspace.root), "events")
    assert code == 1 and "hunter2" not in out
    assert err == f"oboto: {workspace.events} is a symbolic link (oboto does not follow links here); it was not read\n"


def test_oboto_tasks_output_refuses_a_linked_log_plainly(workspace: WorkspacePaths, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-outside\n")
    runtime = Runtime.open(workspace.root)
    record = runtime.tasks.spawn("a task", "do it")
    link(workspace.task_log(record.id), secret)
    code, out, err = run_cli("--workspace", str(workspace.root), "tasks", "output", record.id)
    assert code == 1 and "hunter2" not in out
    assert err.count("\n") == 1 and "is a symbolic link" in err and "it was not read" in err


# ----- the symlink-swap race ---------------------------------------------------------------------


SWAPPER = r"""
import os, sys
sub, outside, stop = sys.argv[1:]
swaps = 0
while not os.path.exists(stop):
    aside = f"{sub}.aside-{swaps}"  # a new name each time: a write may have made `sub` again meanwhile
    try:
        os.rename(sub, aside)
        os.symlink(outside, sub)
        os.unlink(sub)
        os.rename(aside, sub)
    except OSError:
        pass
    swaps += 1
print(swaps)
"""


@contextlib.contextmanager
def folder_swapped_for_a_link(root: Path, outside: Path) -> Iterator[list[int]]:
    """Another process swaps the folder `sub` for a symlink to `outside` and back, as fast as it can, meanwhile;
    afterwards the list holds how many swaps it made."""
    stop = root.parent / "stop-swapping"
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(root / "sub"), str(outside), str(stop)],
                               stdout=subprocess.PIPE, text=True)
    swaps: list[int] = []
    try:
        yield swaps
    finally:
        stop.touch()
        swaps.append(int(swapper.communicate(timeout=30)[0]))


async def test_a_folder_swapped_for_a_symlink_never_lets_write_file_out(
    workspace: WorkspacePaths, settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace.root / "sub").mkdir()
    ctx = ToolContext(paths=workspace, settings=settings, control=full_control())
    registry = ToolRegistry(file_tools())
    results = []
    with folder_swapped_for_a_link(workspace.root, outside) as swaps:
        for index in range(200):
            results.append(await registry.execute(
                "write_file", {"path": f"sub/file-{index}.txt", "content": f"write {index}\n"}, ctx))
    assert files_under(outside) == [] and list(outside.iterdir()) == [], "nothing, not even a temp file, outside"
    assert swaps[0] > 0
    for result in results:
        assert result.ok or result.content.startswith("Error: "), result.content
    written = [path for path in files_under(workspace.root) if path.name.startswith("file-")]
    assert len(written) == sum(result.ok for result in results)
    assert not [path for path in files_under(workspace.root) if path.name.endswith(".tmp")]
