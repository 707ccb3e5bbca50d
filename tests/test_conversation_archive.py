"""Schedule-run notices older than `tasks.retention_days` move from a conversation into its monthly archive;
what a person wrote, the replies and every other notice stay, and a kill -9 mid-move loses or doubles nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from oboto.core.bus import EventBus
from oboto.core.events import WorkspaceWarning
from oboto.core.paths import WorkspacePaths
from oboto.services.conversation_models import Message
from oboto.services.conversations import ConversationManager
from oboto.services.runtime import Runtime

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
CUTOFF = NOW - timedelta(days=30)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def build_history(manager: ConversationManager) -> dict[str, list[str]]:
    """A conversation with old and new messages of every kind; returns the ids that must stay and go."""
    stay = [
        manager.append("chat", Message(role="user", content="an old question", created_at=days_ago(70))),
        manager.append("chat", Message(role="assistant", content="an old answer", created_at=days_ago(70))),
        # a task someone started by hand: its notice is never archived, however old
        manager.append("chat", Message(role="system", marker="task-notice", author="tasks", created_at=days_ago(70),
                                       content="Background task t-00000001 completed")),
    ]
    go = []
    for days in (65, 64, 40):
        go.append(manager.append("chat", Message(role="system", marker="task-notice", author="tasks",
                                                 scheduled=True, content=f"Background task run {days} days ago",
                                                 created_at=days_ago(days))))
    stay.append(manager.append("chat", Message(role="system", marker="task-notice", author="tasks", scheduled=True,
                                               content="a recent scheduled run", created_at=days_ago(2))))
    stay.append(manager.append("chat", Message(role="user", content="a new question", created_at=days_ago(1))))
    return {"stay": [message.id for message in stay], "go": [message.id for message in go]}


def archived(workspace: WorkspacePaths) -> list[str]:
    """Every id in the conversation archives, in file order (whole lines only)."""
    ids = []
    for path in sorted(workspace.conversation_archive_dir.glob("chat-*.jsonl")):
        ids += [orjson.loads(line)["id"] for line in path.read_bytes().splitlines(keepends=True)
                if line.endswith(b"\n")]
    return ids


@pytest.fixture
def manager(workspace: WorkspacePaths) -> ConversationManager:
    return ConversationManager(workspace, EventBus())


def test_old_schedule_run_notices_move_to_the_months_they_were_posted_in(workspace, manager) -> None:
    ids = build_history(manager)
    before = workspace.conversation_file("chat").read_bytes().splitlines(keepends=True)
    assert manager.retire_schedule_notices(CUTOFF) == 3
    assert [message.id for message in manager.messages("chat")] == ids["stay"], "the rest stays, in order"
    months = sorted(path.name for path in workspace.conversation_archive_dir.iterdir()
                    if path.name.endswith(".jsonl"))
    assert months == ["chat-2026-09.jsonl", "chat-2026-10.jsonl"]
    assert archived(workspace) == ids["go"]
    moved = b"".join(workspace.conversation_archive_dir.joinpath(name).read_bytes() for name in months)
    assert moved == b"".join(line for line in before if any(gone.encode() in line for gone in ids["go"])), \
        "each archive line is the notice's line as it was"
    assert manager.message_count("chat") == len(ids["stay"]) and \
        [message.id for message in manager.tail("chat", 2)] == ids["stay"][-2:], "the offset index was rebuilt"
    assert manager.retire_schedule_notices(CUTOFF) == 0 and archived(workspace) == ids["go"]


def test_the_retention_pass_archives_notices_in_every_conversation(workspace, llm_env) -> None:
    runtime = Runtime.open(workspace.root)
    runtime.conversations.create("research")
    old = runtime.conversations.append("research", Message(role="system", marker="task-notice", scheduled=True,
                                                           content="a run of long ago", created_at=days_ago(45)))
    runtime.retention.run_once(now=NOW)
    assert old.id not in [message.id for message in runtime.conversations.messages("research")]
    kept = workspace.conversation_archive_dir / "research-2026-10.jsonl"
    assert orjson.loads(kept.read_bytes())["content"] == "a run of long ago"


KILL_AT = {
    "mid-archive-write": """
        real_write = os.write
        def write(fd, data):
            if b'"scheduled":true' in bytes(data):  # the archive's write: its last line is left torn
                real_write(fd, bytes(data)[: len(data) - 5])
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(fd, data)
        os.write = write
    """,
    "before-rename": """
        def replace(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
    """,
    "after-rename": """
        real_replace = os.replace
        def replace(*args, **kwargs):
            real_replace(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
    """,
}


@pytest.mark.parametrize("point", sorted(KILL_AT))
def test_a_kill_during_a_move_loses_and_duplicates_nothing(workspace: WorkspacePaths, manager, point: str) -> None:
    ids = build_history(manager)
    script = textwrap.dedent("""
        import os, signal, sys
        from datetime import datetime
        from oboto.core.bus import EventBus
        from oboto.core.paths import WorkspacePaths
        from oboto.services.conversations import ConversationManager
        manager = ConversationManager(WorkspacePaths.for_root(sys.argv[1]), EventBus())
    """) + textwrap.dedent(KILL_AT[point]) + "manager.retire_schedule_notices(datetime.fromisoformat(sys.argv[2]))\n"
    killed = subprocess.run([sys.executable, "-c", script, str(workspace.root), CUTOFF.isoformat()],
                            capture_output=True, timeout=60)
    assert killed.returncode == -9, killed.stderr.decode()

    bus = EventBus()
    warnings: list[str] = []
    bus.subscribe(lambda event: warnings.append(event.message), WorkspaceWarning)
    after = ConversationManager(workspace, bus)
    after.retire_schedule_notices(CUTOFF)
    assert [message.id for message in after.messages("chat")] == ids["stay"]
    assert archived(workspace) == ids["go"], "each notice archived exactly once"
    if point == "mid-archive-write":
        assert any("cut short" in warning for warning in warnings)
