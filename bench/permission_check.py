"""The added cost of control per tool call against a scripted tool turn, measured in the same run.

The baseline is one foreground turn through oboto and litellm against the scripted server: the model asks for
`read_file`, the tool runs, the model answers. The figures are what the gate adds to each call: the policy
decision (mode, a realistic set of rules, the path resolved through symlinks), and that plus the fsynced audit
entry. Target: the check under 1% of the turn.
"""

from __future__ import annotations

import asyncio
import os
import time

from common import median_ms, report, temp_workspace
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall

TURNS = 30
CHECKS = 2000
RULES = {
    "allow": ["run_command(pytest *)", "run_command(git status*)", "read_file(src/**)"],
    "ask": ["write_file(*.lock)"],
    "deny": ["run_command(rm -rf *)", "write_file(secrets/**)", "read_file(.env)"],
}


def scripted(request: dict) -> Reply:
    if any(message["role"] == "tool" for message in request["messages"][-1:]):
        return Reply(text="It says hello.")
    return Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "notes.txt"})])


async def tool_turns(base_url: str) -> list[float]:
    from oboto.services.runtime import Runtime

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench")
    root = temp_workspace()
    (root / "notes.txt").write_text("hello\n")
    runtime = Runtime.open(root)
    samples = []
    for index in range(TURNS + 3):
        started = time.perf_counter()
        outcome = await runtime.chat("chat", f"what do the notes say? {index}")
        assert outcome.ok and outcome.tool_calls == 1, outcome.error
        if index >= 3:
            samples.append(time.perf_counter() - started)
    return samples


async def checks(with_audit: bool) -> list[float]:
    from oboto.agent.approvals import ApprovalRequest, CallControl, gate_call
    from oboto.agent.tools.files import ReadFile, ReadFileArgs
    from oboto.agent.tools.base import ToolContext
    from oboto.core.audit import AuditEntry, AuditLog, audit_arguments
    from oboto.core.config import Settings
    from oboto.core.paths import WorkspacePaths
    from oboto.core.permissions import PermissionPolicy

    paths = WorkspacePaths.for_root(temp_workspace())
    paths.ensure()
    (paths.root / "notes.txt").write_text("hello\n")
    control = CallControl(PermissionPolicy.from_texts("auto-edit", **RULES))
    ctx = ToolContext(paths=paths, settings=Settings(), control=control)
    audit = AuditLog(paths.audit)
    tool, args, arguments = ReadFile(), ReadFileArgs(path="notes.txt"), {"path": "notes.txt"}
    samples = []
    for _ in range(CHECKS):
        started = time.perf_counter()
        subject, aliases = tool.subject(args, ctx)
        request = ApprovalRequest(tool=tool.name, tier=tool.tier, arguments=arguments, subject=subject, why="",
                                  aliases=aliases)
        verdict = await gate_call(control, request)
        assert verdict.allowed
        if with_audit:
            audit.write(AuditEntry(tool=tool.name, tier=tool.tier, decision=verdict.decision, reason=verdict.reason,
                                   arguments=audit_arguments(arguments), conversation="chat"))
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    with ScriptedLLM() as server:
        server.respond_with(scripted)
        turn = median_ms(asyncio.run(tool_turns(server.base_url)))
    check = median_ms(asyncio.run(checks(with_audit=False)))
    audited = median_ms(asyncio.run(checks(with_audit=True)))
    report("permission check per tool call", check, "ms", turn, "scripted tool turn")
    report("permission check + audit entry per tool call", audited, "ms", turn, "scripted tool turn")


if __name__ == "__main__":
    main()
