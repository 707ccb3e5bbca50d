"""`oboto changes`, `oboto diff`, `oboto undo` and `oboto redo` as real subprocesses."""

from __future__ import annotations

import orjson

from cli_helpers import oboto
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall


async def agent_turn(runtime, llm: ScriptedLLM, *calls: ScriptedToolCall) -> None:
    """A foreground turn run in this process (the CLI under test reads what it recorded)."""
    llm.add(*(Reply(tool_calls=[tool_call]) for tool_call in calls), Reply(text="done"))
    assert (await runtime.chat("chat", "please do it")).ok


def write(path: str, content: str) -> ScriptedToolCall:
    return ScriptedToolCall("write_file", {"path": path, "content": content})


def listed(workspace, *args: str) -> list[dict]:
    result = oboto(workspace.root, "changes", "--json", *args)
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


async def test_changes_lists_who_changed_which_files(workspace, runtime, llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.txt").write_text("one\ntwo\n")
    await agent_turn(runtime, llm_env, write("notes.txt", "one\n2\n"), write("new.txt", "hello\n"))
    [change] = listed(workspace)
    assert change["kind"] == "turn" and change["who"] == "chat turn" and change["undone"] is False
    files = {file["path"]: (file["status"], file["added_lines"], file["deleted_lines"], file["binary"])
             for file in change["files"]}
    assert files == {"new.txt": ("added", 1, 0, False), "notes.txt": ("modified", 1, 1, False)}
    text = oboto(workspace.root, "changes")
    assert text.returncode == 0
    assert f"{change['id']}" in text.stdout and "chat turn  2 files  +2 -1" in text.stdout
    assert "modified  notes.txt  +1 -1" in text.stdout
    shown = orjson.loads(oboto(workspace.root, "changes", change["id"], "--json").stdout)
    assert shown["id"] == change["id"]
    assert listed(workspace, "--conversation", "other") == [] and listed(workspace, "--task", "t-00000000") == []


async def test_diff_prints_the_unified_diff_of_a_change_or_one_file(workspace, runtime, llm_env: ScriptedLLM) -> None:
    (workspace.root / "notes.txt").write_text("one\ntwo\n")
    await agent_turn(runtime, llm_env, write("notes.txt", "one\n2\n"), write("new.txt", "hello\n"))
    [change] = listed(workspace)
    whole = oboto(workspace.root, "diff", change["id"])
    assert whole.returncode == 0
    assert "--- a/notes.txt\n+++ b/notes.txt\n" in whole.stdout and "-two\n+2\n" in whole.stdout
    assert "+hello\n" in whole.stdout and "\x1b[" not in whole.stdout, "no colour when not on a terminal"
    one = oboto(workspace.root, "diff", change["id"], "new.txt")
    assert "+hello\n" in one.stdout and "notes.txt" not in one.stdout
    missing = oboto(workspace.root, "diff", change["id"], "elsewhere.txt")
    assert missing.returncode == 2 and "did not change elsewhere.txt" in missing.stderr


async def test_undo_redo_and_their_refusals(workspace, runtime, llm_env: ScriptedLLM) -> None:
    notes = workspace.root / "notes.txt"
    notes.write_text("original\n")
    await agent_turn(runtime, llm_env, write("notes.txt", "by the agent\n"))
    [change] = listed(workspace)
    undo = oboto(workspace.root, "undo")
    assert undo.returncode == 0, undo.stderr
    assert f"Undid {change['id']} (chat turn): restored 1 file(s): notes.txt" in undo.stdout
    assert notes.read_text() == "original\n"
    again = oboto(workspace.root, "undo")
    assert again.returncode == 1 and again.stderr.strip() == "oboto: nothing to undo in conversation chat"
    redo = oboto(workspace.root, "redo", "--json")
    assert redo.returncode == 0, redo.stderr
    assert orjson.loads(redo.stdout)["restored"] == ["notes.txt"] and notes.read_text() == "by the agent\n"
    kinds = [entry["kind"] for entry in listed(workspace)]
    assert kinds == ["turn", "undo", "redo"]

    notes.write_text("the person's later edit\n")
    refused = oboto(workspace.root, "undo", change["id"])
    assert refused.returncode == 1
    assert "1 file(s) changed since" in refused.stderr and "notes.txt" in refused.stderr and "--force" in refused.stderr
    assert notes.read_text() == "the person's later edit\n"
    forced = oboto(workspace.root, "undo", change["id"], "--force")
    assert forced.returncode == 0, forced.stderr
    assert notes.read_text() == "original\n" and "--force overwrote" in forced.stderr


def test_bad_ids_and_names_are_usage_errors(workspace) -> None:
    for args, reason in ((("undo", "nonsense"), "not a change id"), (("diff", "c-00000000"), "no change with id"),
                         (("changes", "--conversation", "Bad Name!"), "invalid conversation name"),
                         (("undo", "--task", "t-1", "--conversation", "chat"), "not allowed with")):
        result = oboto(workspace.root, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


# ----- oboto doctor: the checkpoint store in one line ------------------------------------------------


def checkpoints_line(workspace, settings=None):
    from oboto.commands import doctor
    from oboto.core.config import CheckpointSettings

    return doctor._checkpoints_check(workspace, settings or CheckpointSettings())


async def test_doctor_reports_git_the_number_of_changes_and_the_store_size(workspace, runtime,
                                                                           llm_env: ScriptedLLM) -> None:
    empty = checkpoints_line(workspace)
    assert empty.ok and empty.detail.startswith("git 2.") and "no changes recorded yet" in empty.detail
    await agent_turn(runtime, llm_env, write("a.txt", "a\n"))
    await agent_turn(runtime, llm_env, write("b.txt", "b\n"))
    checks = orjson.loads(oboto(workspace.root, "doctor", "--json").stdout)
    [line] = [check for check in checks if check["check"] == "checkpoints"]
    assert line["ok"] and not line["warning"]
    assert "2 changes in .oboto/checkpoints, " in line["detail"] and "KB (kept 30 days)" in line["detail"]


async def test_doctor_says_a_damaged_store_is_damaged_then_that_it_was_moved_aside(workspace, runtime,
                                                                                   llm_env: ScriptedLLM) -> None:
    await agent_turn(runtime, llm_env, write("a.txt", "a\n"))
    (workspace.checkpoints_dir / "HEAD").write_text("this is not a git HEAD\n")
    damaged = checkpoints_line(workspace)
    assert not damaged.ok and ".oboto/checkpoints is damaged" in damaged.detail
    assert not list(workspace.state_dir.glob("checkpoints.corrupt-*")), "doctor only looks"
    await agent_turn(runtime, llm_env, write("b.txt", "b\n"))  # the service moves it aside and starts afresh
    [moved] = list(workspace.state_dir.glob("checkpoints.corrupt-*"))
    after = checkpoints_line(workspace)
    assert after.ok and after.warning and "1 change in" in after.detail
    assert f"a damaged store was moved aside to .oboto/{moved.name}" in after.detail


def test_doctor_says_when_checkpoints_are_off_or_git_is_missing(workspace, monkeypatch) -> None:
    from oboto.core.config import CheckpointSettings
    from oboto.services import checkpoint_repo

    off = checkpoints_line(workspace, CheckpointSettings(enabled=False))
    assert off.ok and off.warning and "off (checkpoints.enabled = false)" in off.detail
    monkeypatch.setattr(checkpoint_repo.shutil, "which", lambda _name: None)
    missing = checkpoints_line(workspace)
    assert not missing.ok and "no git on this machine's PATH" in missing.detail
    assert "install git, or set checkpoints.enabled = false" in missing.detail
