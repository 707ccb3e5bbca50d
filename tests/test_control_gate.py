"""The permission gate inside ToolRegistry.execute: every mode × tier with real tools, rules, approvals,
refusals the model can act on, and the audit entry each path leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from oboto.agent.approvals import ApprovalAnswer, ApprovalRequest, CallControl
from oboto.agent.tools import file_tools, shell_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.audit import AuditLog
from oboto.core.permissions import PermissionPolicy

pytestmark = pytest.mark.asyncio


class ScriptedApprover:
    """Answers asks from a list and remembers what it was asked."""

    def __init__(self, *answers: ApprovalAnswer) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        self.requests.append(request)
        return self.answers.pop(0)


def registry() -> ToolRegistry:
    return ToolRegistry([*file_tools(), *shell_tools()])


def context(workspace, settings, policy: PermissionPolicy, approver=None, **extra: Any) -> ToolContext:
    return ToolContext(paths=workspace, settings=settings, conversation="chat",
                       control=CallControl(policy, approver=approver), audit=AuditLog(workspace.audit), **extra)


def audit(workspace) -> list[dict]:
    return [orjson.loads(line) for line in workspace.audit.read_bytes().splitlines()]


CALLS = {
    "read": ("read_file", {"path": "notes.txt"}),
    "write": ("write_file", {"path": "new.txt", "content": "hi"}),
    "exec": ("run_command", {"command": "echo ran > ran.txt"}),
}
EXPECTED = {
    "read-only": {"read": "allow", "write": "deny", "exec": "deny"},
    "ask": {"read": "allow", "write": "ask", "exec": "ask"},
    "auto-edit": {"read": "allow", "write": "allow", "exec": "ask"},
    "full": {"read": "allow", "write": "allow", "exec": "allow"},
}
EFFECT = {"read": None, "write": "new.txt", "exec": "ran.txt"}


@pytest.mark.parametrize("mode", list(EXPECTED))
@pytest.mark.parametrize("tier", ["read", "write", "exec"])
async def test_mode_by_tier_through_the_real_tools(workspace, settings, mode: str, tier: str) -> None:
    (workspace.root / "notes.txt").write_text("hello\n")
    approver = ScriptedApprover(ApprovalAnswer("deny", "not now"))
    ctx = context(workspace, settings, PermissionPolicy(mode), approver)
    name, arguments = CALLS[tier]
    result = await registry().execute(name, arguments, ctx)
    expected = EXPECTED[mode][tier]
    effect = EFFECT[tier]
    if expected == "allow":
        assert result.ok, result.content
        assert effect is None or (workspace.root / effect).exists()
        assert approver.requests == []
    else:
        assert not result.ok
        assert effect is None or not (workspace.root / effect).exists()
        assert len(approver.requests) == (1 if expected == "ask" else 0)
    entry = audit(workspace)[-1]
    assert entry["tool"] == name and entry["tier"] == tier
    assert entry["decision"] == {"allow": "allow", "deny": "deny", "ask": "ask→denied"}[expected]
    assert entry["outcome"] == ("ok" if expected == "allow" else "refused")


async def test_read_only_mode_offers_only_reading_tools(workspace, settings) -> None:
    offered = {schema["function"]["name"] for schema in
               registry().schemas(context(workspace, settings, PermissionPolicy("read-only")))}
    assert offered == {"read_file", "list_files", "search_files"}


async def test_a_refusal_tells_the_model_why_and_not_to_work_around_it(workspace, settings) -> None:
    ctx = context(workspace, settings, PermissionPolicy.from_texts("full", deny=["run_command(rm -rf *)"]))
    (workspace.root / "victim").mkdir()
    result = await registry().execute("run_command", {"command": "rm -rf victim && echo gone"}, ctx)
    assert not result.ok and (workspace.root / "victim").is_dir()
    assert "rule deny run_command(rm -rf *)" in result.content
    assert "Do not try to get around this" in result.content
    entry = audit(workspace)[-1]
    assert entry["decision"] == "deny" and entry["reason"] == "rule deny run_command(rm -rf *)"
    assert entry["arguments"] == {"command": "rm -rf victim && echo gone"}


async def test_allow_once_runs_and_is_audited_as_approved(workspace, settings) -> None:
    approver = ScriptedApprover(ApprovalAnswer("allow"))
    ctx = context(workspace, settings, PermissionPolicy("auto-edit"), approver)
    result = await registry().execute("run_command", {"command": "echo ok"}, ctx)
    assert result.ok and "ok" in result.content
    assert approver.requests[0].tool == "run_command" and approver.requests[0].subject == "echo ok"
    assert approver.requests[0].why == "mode auto-edit"
    entry = audit(workspace)[-1]
    assert entry["decision"] == "ask→allowed" and entry["reason"] == "approved by the person"
    assert entry["outcome"] == "ok" and entry["duration_ms"] > 0


async def test_allow_always_adds_a_rule_so_the_same_call_is_not_asked_again(workspace, settings) -> None:
    approver = ScriptedApprover(ApprovalAnswer("always"), ApprovalAnswer("deny"))
    ctx = context(workspace, settings, PermissionPolicy("auto-edit"), approver)
    assert (await registry().execute("run_command", {"command": "echo once"}, ctx)).ok
    assert (await registry().execute("run_command", {"command": "echo once"}, ctx)).ok
    assert len(approver.requests) == 1
    # Only that exact command: another one still asks (and this one is denied).
    assert not (await registry().execute("run_command", {"command": "echo other"}, ctx)).ok
    assert len(approver.requests) == 2
    decisions = [(entry["decision"], entry["reason"]) for entry in audit(workspace)]
    assert decisions[0] == ("ask→allowed", "approved always by the person (allow run_command(echo once))")
    assert decisions[1][0] == "allow" and "run_command(echo once)" in decisions[1][1]


async def test_deny_with_a_reason_passes_the_reason_to_the_model(workspace, settings) -> None:
    approver = ScriptedApprover(ApprovalAnswer("deny", "use the Makefile target instead"))
    ctx = context(workspace, settings, PermissionPolicy("auto-edit"), approver)
    result = await registry().execute("run_command", {"command": "gcc main.c"}, ctx)
    assert not result.ok and "use the Makefile target instead" in result.content
    entry = audit(workspace)[-1]
    assert entry["decision"] == "ask→denied"
    assert entry["reason"] == "denied by the person: use the Makefile target instead"


async def test_an_ask_with_nobody_to_ask_is_refused_with_the_way_to_allow_it(workspace, settings) -> None:
    ctx = ToolContext(paths=workspace, settings=settings, audit=AuditLog(workspace.audit),
                      control=CallControl(PermissionPolicy("auto-edit"), no_approver_hint="Run with --yes."))
    result = await registry().execute("run_command", {"command": "echo hi"}, ctx)
    assert not result.ok and "nobody can be asked" in result.content and "Run with --yes." in result.content


async def test_a_context_without_control_uses_the_workspace_settings_and_asks_nobody(workspace, settings) -> None:
    ctx = ToolContext(paths=workspace, settings=settings)
    assert (await registry().execute("write_file", {"path": "a.txt", "content": "x"}, ctx)).ok  # auto-edit
    result = await registry().execute("run_command", {"command": "echo hi"}, ctx)
    assert not result.ok and "needs approval (mode auto-edit)" in result.content


async def test_an_edit_asks_with_the_diff_it_would_apply(workspace, settings) -> None:
    (workspace.root / "app.py").write_text("def main():\n    return 1\n")
    approver = ScriptedApprover(ApprovalAnswer("allow"))
    ctx = context(workspace, settings, PermissionPolicy("ask"), approver)
    result = await registry().execute("edit_file", {"path": "app.py", "old_text": "return 1", "new_text": "return 2"},
                                      ctx)
    assert result.ok
    preview = approver.requests[0].preview
    assert "-    return 1" in preview and "+    return 2" in preview and "app.py" in preview
    approver.answers.append(ApprovalAnswer("allow"))
    await registry().execute("write_file", {"path": "new.md", "content": "# Title\n"}, ctx)
    assert "+# Title" in approver.requests[1].preview


async def test_a_path_rule_sees_through_a_symlink(workspace, settings) -> None:
    (workspace.root / ".env").write_text("SECRET=1\n")
    (workspace.root / "innocent.txt").symlink_to(".env")
    ctx = context(workspace, settings, PermissionPolicy.from_texts("full", deny=["read_file(.env)"]))
    result = await registry().execute("read_file", {"path": "innocent.txt"}, ctx)
    assert not result.ok and "SECRET" not in result.content


async def test_busy_read_only_unknown_tools_and_bad_arguments_are_audited_too(workspace, settings) -> None:
    ctx = context(workspace, settings, PermissionPolicy("full"), busy_guard=lambda: True, background=True,
                  task_id="t-0000abcd", origin="schedule")
    result = await registry().execute("write_file", {"path": "x", "content": "y"}, ctx)
    assert not result.ok and not (workspace.root / "x").exists()
    await registry().execute("no_such_tool", {}, ctx)
    await registry().execute("read_file", {"nope": 1}, ctx)
    entries = audit(workspace)
    assert entries[0]["decision"] == "deny" and "read-only while the person" in entries[0]["reason"]
    assert entries[0]["task_id"] == "t-0000abcd" and entries[0]["origin"] == "schedule"
    assert entries[1]["tool"] == "no_such_tool" and entries[1]["tier"] == "exec" and entries[1]["decision"] == "deny"
    assert entries[2]["tool"] == "read_file" and entries[2]["outcome"] == "error"


async def test_long_arguments_are_cut_in_the_audit_log(workspace, settings) -> None:
    ctx = context(workspace, settings, PermissionPolicy("full"))
    await registry().execute("write_file", {"path": "cfg.txt", "content": "x" * 5000}, ctx)
    text = Path(workspace.audit).read_text()
    assert "x" * 400 not in text and "(5000 characters)" in text


async def test_cancel_background_task_all_cancels_every_queued_task(runtime) -> None:
    first = runtime.tasks.spawn("one", "q")
    second = runtime.tasks.spawn("two", "q")
    ctx = runtime.tool_context(conversation="chat")
    result = await runtime.tools.execute("cancel_background_task", {"all": True}, ctx)
    assert result.ok and first.id in result.content and second.id in result.content
    assert {runtime.tasks.get(task.id).status for task in (first, second)} == {"cancelled"}
    both = await runtime.tools.execute("cancel_background_task", {"all": True, "task_id": first.id}, ctx)
    assert not both.ok and "not both" in both.content
