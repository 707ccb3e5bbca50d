"""Checkpoints around turns, tasks and shell commands, and undoing their changes, with the scripted model."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from oboto.core.events import ChangeRecorded, FileQuarantined, WorkspaceWarning
from oboto.services.change_models import Change, ChangeAuthor
from oboto.services.checkpoints import NothingToUndo, UndoRefused
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until


@pytest.fixture(autouse=True)
def full_permissions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mode full: these tests are about what commands change, not about asking first (test_control_gate)."""
    monkeypatch.setenv("OBOTO_PERMISSIONS__MODE", "full")


def call(tool: str, **arguments: object) -> ScriptedToolCall:
    return ScriptedToolCall(tool, arguments)


def shell(command: str) -> ScriptedToolCall:
    return call("run_command", command=command)


async def agent_turn(runtime: Runtime, llm: ScriptedLLM, *calls: ScriptedToolCall) -> Change:
    """One foreground turn of chat making `calls` in order; returns the change it recorded."""
    llm.add(*(Reply(tool_calls=[tool_call]) for tool_call in calls), Reply(text="done"))
    outcome = await runtime.chat("chat", "please do it")
    assert outcome.ok, outcome.error
    return [change for change in runtime.checkpoints.changes(conversation="chat") if change.parent is None][-1]


def summary(change: Change) -> list[tuple[str, str]]:
    return [(file.path, file.status) for file in change.files]


def events_of(runtime: Runtime, kind: type) -> list:
    seen: list = []
    runtime.bus.subscribe(seen.append, kind)
    return seen


# ----- what a change records --------------------------------------------------------------------


async def test_a_turn_records_its_files_with_line_counts_and_tool_calls(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    (root / "notes.txt").write_text("one\ntwo\nthree\n")
    recorded = events_of(runtime, ChangeRecorded)
    change = await agent_turn(runtime, llm_env, call("write_file", path="notes.txt", content="one\n2\nthree\nfour\n"),
                              call("write_file", path="new.md", content="# hi\n"))
    assert change.kind == "turn" and change.who == "chat turn" and change.conversation == "chat"
    assert summary(change) == [("new.md", "added"), ("notes.txt", "modified")]
    lines = {file.path: (file.added_lines, file.deleted_lines) for file in change.files}
    assert lines == {"new.md": (1, 0), "notes.txt": (2, 1)}
    assert len(change.tool_call_ids) == 2
    prompt = next(m for m in runtime.conversations.messages("chat") if m.role == "user")
    assert change.message_id == prompt.id, "the change is keyed by the message that started the turn"
    assert runtime.checkpoints.changes(tool_call_id=change.tool_call_ids[0]) == [change]
    assert [(event.change_id, event.files) for event in recorded] == [(change.id, 2)]
    assert "+2\n" not in runtime.checkpoints.diff(change.id, "new.md")
    assert "-two\n+2\n" in runtime.checkpoints.diff(change.id, "notes.txt")


async def test_a_turn_that_changes_nothing_records_no_change(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    (runtime.paths.root / "a.txt").write_text("a\n")
    llm_env.add(Reply(tool_calls=[call("read_file", path="a.txt")]), Reply(text="it says a"))
    assert (await runtime.chat("chat", "read it")).ok
    assert runtime.checkpoints.changes() == []
    with pytest.raises(NothingToUndo, match="nothing to undo in conversation chat"):
        runtime.checkpoints.undo()


async def test_only_work_that_writes_takes_checkpoints(runtime: Runtime, llm_env: ScriptedLLM,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The before checkpoint is taken at the first write: a reading turn runs no git at all."""
    snapshots: list[bool] = []
    original = runtime.checkpoints.repo.snapshot
    monkeypatch.setattr(runtime.checkpoints.repo, "snapshot",
                        lambda: snapshots.append((runtime.paths.root / "b.txt").exists()) or original())
    (runtime.paths.root / "a.txt").write_text("a\n")
    llm_env.add(Reply(tool_calls=[call("read_file", path="a.txt")]), Reply(text="it says a"))
    assert (await runtime.chat("chat", "read it")).ok
    assert snapshots == []
    change = await agent_turn(runtime, llm_env, call("read_file", path="a.txt"),
                              call("write_file", path="b.txt", content="b\n"))
    assert snapshots == [False, True], "one before the write, one after the turn"
    assert summary(change) == [("b.txt", "added")]


async def test_files_the_person_edits_during_a_turn_are_not_filed_under_it(runtime: Runtime) -> None:
    """Concurrent work (the person, another agent) stays out of a change: only its own tools' files count."""
    root = runtime.paths.root
    checkpoints = runtime.checkpoints
    async with checkpoints.around(ChangeAuthor.task("t-00000001", origin="user")) as task_change:
        await task_change.ready()
        async with checkpoints.around(ChangeAuthor.turn("chat")) as turn_change:
            await turn_change.ready()
            (root / "b.txt").write_text("the turn's file\n")
            turn_change.wrote("b.txt", "call-b")
            (root / "mine.txt").write_text("the person's own edit\n")
        (root / "a.txt").write_text("the task's file\n")
        task_change.wrote("a.txt", "call-a")
    by_kind = {change.kind: change for change in checkpoints.changes()}
    assert summary(by_kind["turn"]) == [("b.txt", "added")]
    assert summary(by_kind["task"]) == [("a.txt", "added")]
    checkpoints.undo(by_kind["task"].id)
    assert not (root / "a.txt").exists()
    assert (root / "b.txt").read_text() == "the turn's file\n" and (root / "mine.txt").exists()


# ----- undo of each kind of change --------------------------------------------------------------


async def test_undo_of_a_write_restores_the_old_content(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    notes = runtime.paths.root / "notes.txt"
    notes.write_text("my precious notes\n")
    change = await agent_turn(runtime, llm_env, call("write_file", path="notes.txt", content="gone\n"))
    result = runtime.checkpoints.undo()
    assert result.target.id == change.id and result.restored == ["notes.txt"]
    assert notes.read_text() == "my precious notes\n"
    assert result.change is not None and result.change.kind == "undo" and result.change.undoes == change.id


async def test_undo_of_an_edit_restores_the_file(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    app = runtime.paths.root / "app.py"
    app.write_text("def f():\n    return 1\n")
    await agent_turn(runtime, llm_env, call("edit_file", path="app.py", old_text="return 1", new_text="return 2"))
    assert app.read_text().endswith("return 2\n")
    runtime.checkpoints.undo()
    assert app.read_text() == "def f():\n    return 1\n"


async def test_undo_of_a_created_file_deletes_it(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    created = runtime.paths.root / "pkg" / "new.py"
    change = await agent_turn(runtime, llm_env, call("write_file", path="pkg/new.py", content="x = 1\n"))
    assert summary(change) == [("pkg/new.py", "added")]
    runtime.checkpoints.undo()
    assert not created.exists()


async def test_undo_of_a_deletion_by_run_command_recreates_it(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    script = runtime.paths.root / "deploy.sh"
    script.write_text("#!/bin/sh\necho deploying\n")
    script.chmod(0o755)
    change = await agent_turn(runtime, llm_env, shell("rm deploy.sh"))
    assert not script.exists() and summary(change) == [("deploy.sh", "deleted")]
    command_change = next(c for c in runtime.checkpoints.changes() if c.kind == "exec")
    assert command_change.parent == change.id and command_change.who == "run_command in chat turn"
    assert command_change.tool_call_ids == change.tool_call_ids
    runtime.checkpoints.undo()
    assert script.read_text() == "#!/bin/sh\necho deploying\n"
    assert script.stat().st_mode & 0o777 == 0o755, "the executable bit comes back too"


async def test_undo_of_a_rename_puts_the_file_back_under_its_old_name(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    (root / "src").mkdir()
    (root / "src" / "old_name.py").write_text("VALUE = 42\n")
    change = await agent_turn(runtime, llm_env, shell("mkdir lib && mv src/old_name.py lib/new_name.py"))
    renamed = change.files[0]
    assert (renamed.status, renamed.old_path, renamed.path) == ("renamed", "src/old_name.py", "lib/new_name.py")
    runtime.checkpoints.undo()
    assert (root / "src" / "old_name.py").read_text() == "VALUE = 42\n"
    assert not (root / "lib" / "new_name.py").exists()


async def test_undo_restores_binary_and_empty_files_byte_for_byte(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    blob = bytes(range(256)) * 4
    (root / "image.bin").write_bytes(blob)
    (root / "empty.txt").write_bytes(b"")
    change = await agent_turn(runtime, llm_env, shell("printf 'X\\000Y' > image.bin && rm empty.txt"))
    binary = next(file for file in change.files if file.path == "image.bin")
    assert binary.binary and binary.added_lines is None
    assert "Binary files" in runtime.checkpoints.diff(change.id, "image.bin")
    runtime.checkpoints.undo()
    assert (root / "image.bin").read_bytes() == blob
    assert (root / "empty.txt").exists() and (root / "empty.txt").read_bytes() == b""


# ----- safety: later changes, force, undo of an undo --------------------------------------------


async def test_undo_refuses_when_the_file_changed_since_and_force_overwrites(runtime: Runtime,
                                                                             llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    (root / "notes.txt").write_text("original\n")
    (root / "other.txt").write_text("other\n")
    change = await agent_turn(runtime, llm_env, call("write_file", path="notes.txt", content="by the agent\n"),
                              call("write_file", path="other.txt", content="also the agent\n"))
    (root / "notes.txt").write_text("the person edited it afterwards\n")
    with pytest.raises(UndoRefused) as refused:
        runtime.checkpoints.undo()
    assert refused.value.conflicts == ["notes.txt"] and "--force" in str(refused.value)
    assert (root / "notes.txt").read_text() == "the person edited it afterwards\n"
    assert (root / "other.txt").read_text() == "also the agent\n", "a refused undo changes nothing"
    assert [c.kind for c in runtime.checkpoints.changes()] == ["turn"]
    result = runtime.checkpoints.undo(change.id, force=True)
    assert result.overwritten == ["notes.txt"]
    assert (root / "notes.txt").read_text() == "original\n" and (root / "other.txt").read_text() == "other\n"


async def test_a_file_created_again_after_its_deletion_blocks_the_undo(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    await agent_turn(runtime, llm_env, call("write_file", path="draft.txt", content="agent draft\n"))
    (root / "draft.txt").unlink()
    (root / "draft.txt").mkdir()
    with pytest.raises(UndoRefused, match="draft.txt"):
        runtime.checkpoints.undo()
    assert (root / "draft.txt").is_dir()


async def test_undo_of_an_undo_puts_the_change_back(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    (root / "a.txt").write_text("first\n")
    first = await agent_turn(runtime, llm_env, call("write_file", path="a.txt", content="second\n"))
    second = await agent_turn(runtime, llm_env, call("write_file", path="b.txt", content="new\n"))
    undo_second = runtime.checkpoints.undo()
    assert undo_second.target.id == second.id and not (root / "b.txt").exists()
    undo_first = runtime.checkpoints.undo()
    assert undo_first.target.id == first.id, "the next undo goes one change further back"
    assert (root / "a.txt").read_text() == "first\n"
    with pytest.raises(NothingToUndo, match=f"{first.id} was already undone by {undo_first.change.id}"):
        runtime.checkpoints.undo(first.id)
    redo = runtime.checkpoints.redo()
    assert redo.target.id == undo_first.change.id and redo.change.kind == "redo"
    assert (root / "a.txt").read_text() == "second\n"
    runtime.checkpoints.undo(undo_second.change.id)
    assert (root / "b.txt").read_text() == "new\n"
    with pytest.raises(NothingToUndo, match="nothing to redo"):
        runtime.checkpoints.redo()
    assert runtime.checkpoints.undone_by().keys() == {undo_first.change.id, undo_second.change.id}
    assert runtime.checkpoints.undo().target.id == second.id, "a redone change can be undone again"


# ----- background tasks -------------------------------------------------------------------------


async def test_a_background_tasks_change_is_undone_while_the_person_keeps_working(
        workspace, llm_env: ScriptedLLM) -> None:
    root = workspace.root
    (root / "report.md").write_text("v1\n")
    runtime = Runtime.open(root)
    runtime.activate_runner()
    try:
        llm_env.add(Reply(tool_calls=[call("write_file", path="report.md", content="rewritten by the task\n")]),
                    Reply(text="report updated"))
        record = runtime.tasks.spawn("update the report", "rewrite report.md")
        done = await runtime.tasks.wait(record.id, 20)
        assert done.status == "completed" and done.files_changed == 1
        await async_wait_until(lambda: runtime.tasks.get(record.id).notice_posted)
        notice = [m.content for m in runtime.conversations.messages("chat") if m.marker == "task-notice"][-1]
        assert f"changed 1 file: oboto changes --task {record.id}" in notice
        await agent_turn(runtime, llm_env, call("write_file", path="todo.txt", content="the person's next step\n"))
        (root / "journal.txt").write_text("typed by the person\n")
        [task_change] = runtime.checkpoints.changes(task_id=record.id)
        assert task_change.who == f"task {record.id}" and summary(task_change) == [("report.md", "modified")]
        runtime.checkpoints.undo(task_id=record.id)
    finally:
        await runtime.deactivate_runner("the test finished")
    assert (root / "report.md").read_text() == "v1\n"
    assert (root / "todo.txt").read_text() == "the person's next step\n"
    assert (root / "journal.txt").read_text() == "typed by the person\n"


async def test_shell_commands_of_a_scheduled_task_are_captured(workspace, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root, shell={"allow_background": True})
    runtime.activate_runner()
    try:
        llm_env.add(Reply(tool_calls=[shell("echo generated > out.txt")]), Reply(text="ok"))
        record = runtime.tasks.spawn("nightly", "generate", origin="schedule", schedule_id="s-00000001")
        assert (await runtime.tasks.wait(record.id, 20)).status == "completed"
    finally:
        await runtime.deactivate_runner("the test finished")
    task_change = next(c for c in runtime.checkpoints.changes(task_id=record.id) if c.parent is None)
    assert task_change.who == f"schedule s-00000001 (task {record.id})"
    assert summary(task_change) == [("out.txt", "added")]


# ----- what is left out -------------------------------------------------------------------------


async def test_ignored_and_oversize_files_are_listed_as_skipped_and_never_touched(
        workspace, llm_env: ScriptedLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = workspace.root
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[core]\n\texcludesFile = ~/.my-global-ignores\n")
    (home / ".my-global-ignores").write_text("*.swp\n")
    monkeypatch.setenv("HOME", str(home))
    (root / ".gitignore").write_text("*.log\n")
    (root / "build").mkdir()
    (root / "build" / ".gitignore").write_text("out/\n")
    (root / ".obotoignore").write_text("secrets/\n")
    runtime = Runtime.open(root, checkpoints={"max_file_bytes": 1000})
    change = await agent_turn(
        runtime, llm_env, call("write_file", path="run.log", content="log line\n"),
        call("write_file", path="secrets/key.txt", content="hunter2\n"),
        call("write_file", path="build/out/app.js", content="built\n"),
        call("write_file", path=".notes.txt.swp", content="editor swap\n"),
        shell("head -c 5000 /dev/zero > big.bin && echo small > small.txt"),
    )
    assert summary(change) == [("small.txt", "added")]
    skipped = {file.path: file.reason for file in change.skipped}
    assert skipped.keys() == {"run.log", "secrets/key.txt", "build/out/app.js", ".notes.txt.swp", "big.bin"}
    assert "size cap" in skipped["big.bin"] and "ignored" in skipped["run.log"]
    result = runtime.checkpoints.undo()
    assert result.restored == ["small.txt"]
    assert (root / "big.bin").stat().st_size == 5000 and (root / "run.log").exists()


async def test_the_state_folder_and_gits_own_folder_are_never_checkpointed(runtime: Runtime,
                                                                           llm_env: ScriptedLLM) -> None:
    (runtime.paths.root / ".gitignore").write_text("!.oboto/\n")
    change = await agent_turn(runtime, llm_env, shell("mkdir -p .git && echo x > .git/marker && echo y > kept.txt"))
    assert summary(change) == [("kept.txt", "added")]
    tree = runtime.checkpoints.repo.git("ls-tree", "-r", "--name-only", change.after).decode().split()
    assert tree == [".gitignore", "kept.txt"]


# ----- the person's own repository --------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="me", GIT_AUTHOR_EMAIL="me@example.com", GIT_COMMITTER_NAME="me",
               GIT_COMMITTER_EMAIL="me@example.com")
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def _hash_tree(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


async def test_the_workspaces_own_git_repository_stays_byte_for_byte_unchanged(workspace, llm_env: ScriptedLLM) -> None:
    root = workspace.root
    (root / "app.py").write_text("print('v1')\n")
    _git(root, "init", "-q")
    _git(root, "add", "app.py")
    _git(root, "commit", "-q", "-m", "first")
    before = _hash_tree(root / ".git")
    runtime = Runtime.open(root)
    await agent_turn(runtime, llm_env, call("write_file", path="app.py", content="print('v2')\n"),
                     shell("echo note > notes.txt"))
    runtime.checkpoints.undo()
    assert _hash_tree(root / ".git") == before
    assert _git(root, "status", "--porcelain") == "", "no ?? .oboto/ and the undo left the work tree clean"
    assert (root / ".oboto" / ".gitignore").read_text() == "*\n"


# ----- failures never fail the turn -------------------------------------------------------------


async def test_a_corrupt_store_is_moved_aside_and_the_app_goes_on(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    root = runtime.paths.root
    await agent_turn(runtime, llm_env, call("write_file", path="a.txt", content="a\n"))
    (runtime.paths.checkpoints_dir / "HEAD").write_text("this is not a git HEAD\n")
    quarantined = events_of(runtime, FileQuarantined)
    change = await agent_turn(runtime, llm_env, call("write_file", path="b.txt", content="b\n"))
    [event] = quarantined
    assert event.path == str(runtime.paths.checkpoints_dir) and ".corrupt-" in event.moved_to
    assert Path(event.moved_to).is_dir() and "damaged" in event.reason
    assert summary(change) == [("b.txt", "added")], "the fresh store records the turn"
    runtime.checkpoints.undo()
    assert not (root / "b.txt").exists() and (root / "a.txt").exists()


async def test_a_failed_checkpoint_warns_and_the_turn_still_completes(runtime: Runtime, llm_env: ScriptedLLM,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.checkpoints.repo, "_git_binary", None)
    warnings = events_of(runtime, WorkspaceWarning)
    llm_env.add(Reply(tool_calls=[call("write_file", path="a.txt", content="a\n")]), Reply(text="done"))
    assert (await runtime.chat("chat", "write it")).ok
    assert (runtime.paths.root / "a.txt").read_text() == "a\n"
    assert [w.message for w in warnings] == ["checkpoints need git, and there is no git on this machine's PATH; "
                                             "changes cannot be undone"]


async def test_a_cancelled_turn_still_records_what_it_changed(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(tool_calls=[call("write_file", path="half.txt", content="half done\n")]),
                Reply(text="never arrives", delay=30))
    turn = asyncio.create_task(runtime.chat("chat", "start"))
    await async_wait_until(lambda: len(llm_env.requests) == 2)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    [change] = runtime.checkpoints.changes()
    assert summary(change) == [("half.txt", "added")]


async def test_old_changes_are_pruned_and_the_store_goes_on(runtime: Runtime, llm_env: ScriptedLLM) -> None:
    old = await agent_turn(runtime, llm_env, call("write_file", path="a.txt", content="a\n"))
    assert runtime.checkpoints.prune(now=old.finished_at) == 0
    assert runtime.checkpoints.prune(now=old.finished_at.replace(year=old.finished_at.year + 1)) == 1
    assert runtime.checkpoints.changes() == []
    new = await agent_turn(runtime, llm_env, call("write_file", path="b.txt", content="b\n"))
    assert [c.id for c in runtime.checkpoints.changes()] == [new.id]


# ----- the tool side of the hook ----------------------------------------------------------------


class RecordingScope:
    """A stand-in for the open change: records what the registry asks of it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.existed_when_ready: list[bool] = []
        self.written: list[tuple[str, str | None]] = []
        self.programs: list[tuple[str | None, str]] = []

    async def ready(self) -> None:
        self.existed_when_ready.append(self.target.exists())

    def wrote(self, path: str, tool_call_id: str | None) -> None:
        self.written.append((path, tool_call_id))

    @contextlib.asynccontextmanager
    async def around_program(self, tool_call_id: str | None, tool: str):
        self.programs.append((tool_call_id, tool))
        yield self


async def test_writing_tools_wait_for_the_before_checkpoint_and_report_their_files(workspace, settings) -> None:
    from oboto.agent.approvals import CallControl
    from oboto.agent.tools import file_tools, shell_tools
    from oboto.agent.tools.base import ToolContext, ToolRegistry
    from oboto.core.permissions import PermissionPolicy

    scope = RecordingScope(workspace.root / "out.txt")
    ctx = ToolContext(paths=workspace, settings=settings, changes=scope, control=CallControl(PermissionPolicy("full")))
    registry = ToolRegistry([*file_tools(), *shell_tools()])
    assert (await registry.execute("write_file", {"path": "out.txt", "content": "x\n"}, ctx, call_id="call-1")).ok
    assert (await registry.execute("read_file", {"path": "out.txt"}, ctx, call_id="call-2")).ok
    assert (await registry.execute("run_command", {"command": "true"}, ctx, call_id="call-3")).ok
    assert scope.existed_when_ready == [False, True], "asked before writing; reading tools never wait"
    assert scope.written == [("out.txt", "call-1")]
    assert scope.programs == [("call-3", "run_command")]
