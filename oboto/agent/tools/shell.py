"""run_command: one shell command in the workspace, sandboxed, with limits, a timeout, an output cap, and
every process it starts ended with the call."""

from __future__ import annotations

import os
import signal

from pydantic import Field

from oboto.agent.sandbox.environment import command_environment
from oboto.agent.sandbox.launch import LauncherFailed, run_in_launcher
from oboto.agent.sandbox.policy import SandboxPlan, SandboxRefused, protect_this_process
from oboto.agent.sandbox.spec import CommandReport
from oboto.agent.sandbox.state_guard import REJECTED_MARK, Undone, take_snapshot, undo_changes
from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from oboto.agent.tools.workspace_paths import display_path, resolve_in_workspace
from oboto.core.events import WorkspaceWarning
from oboto.core.safe_open import OBOTO_DIR_NAME

MAX_TIMEOUT_SECONDS = 3600.0


class OutputCapture:
    """Keeps the first and the last half of `limit` bytes of a stream and counts what falls between."""

    def __init__(self, limit: int) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > self._tail_limit:
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def omitted(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def text(self) -> str:
        head = self._head.decode("utf-8", "replace")
        tail = self._tail.decode("utf-8", "replace")
        if self.omitted <= 0:
            return head + tail
        return f"{head}\n[… {self.omitted} bytes omitted …]\n{tail}"


class RunCommandArgs(ToolArgs):
    command: str = Field(
        min_length=1,
        description="Shell command line (run by /bin/sh in the workspace; stdin is empty, so nothing can prompt).",
    )
    timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_TIMEOUT_SECONDS,
        description="Stop the command after this many seconds (default: the workspace's shell.timeout_seconds).",
    )
    cwd: str = Field(".", description="Folder to run in, relative to the workspace root.")


class RunCommand(Tool):
    """Run a shell command in the workspace and return its exit code and combined output."""

    name = "run_command"
    description = (
        "Run a shell command in the workspace (tests, builds, git, …). Returns the exit code and the combined "
        "stdout+stderr; long output keeps its beginning and end. On timeout the command and everything it "
        "started are stopped. Do not start servers or watchers that never exit."
    )
    Args = RunCommandArgs
    tier = "exec"

    def subject(self, args: RunCommandArgs, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return args.command, []

    def __init__(self) -> None:
        self._warned = False

    def unavailable_reason(self, ctx: ToolContext) -> str | None:
        reason = super().unavailable_reason(ctx)
        if reason:
            return reason
        if not ctx.settings.shell.enabled:
            return "run_command is disabled in this workspace (set shell.enabled = true in .oboto/config.toml)"
        if ctx.background and not ctx.settings.shell.allow_background:
            return (
                "run_command is off for background agents "
                "(set shell.allow_background = true in .oboto/config.toml to allow it)"
            )
        return None

    async def run(self, args: RunCommandArgs, ctx: ToolContext) -> ToolResult:
        if "\x00" in args.command:
            raise ToolError("command refused: it contains a NUL byte")
        root = ctx.paths.root
        cwd = resolve_in_workspace(root, args.cwd, must_exist=True)
        if not cwd.is_dir():
            raise ToolError(f"cwd {display_path(root, cwd)} is not a folder")
        shell = ctx.settings.shell
        plan = SandboxPlan.for_settings(ctx.settings, root, background=ctx.background)
        try:
            plan.check()
        except SandboxRefused as refused:
            raise ToolError(str(refused)) from None
        timeout = args.timeout_seconds or shell.timeout_seconds
        spec = plan.command_spec(shell, args.command, timeout)
        protect_this_process()
        capture = OutputCapture(shell.max_output_bytes)
        settings_before = take_snapshot(ctx.paths.state_dir) if plan.read_only else None
        try:
            report = await run_in_launcher(spec, cwd, command_environment(os.environ, shell.pass_env), capture.feed)
        except LauncherFailed as failure:
            raise ToolError(str(failure)) from None
        if report.refused:
            raise ToolError(f"command refused: {report.refused}")
        if report.unsandboxed and plan.mode != "off":
            self._warn_once(ctx, f"run_command runs without the Landlock sandbox: {plan.unsandboxed_reason(report)}")
        result = self._result(report, capture, timeout)
        # Without the read-only mount the command could have changed the settings: whatever it changed is put back.
        if settings_before is not None and not report.read_only:
            self._put_back(ctx, undo_changes(ctx.paths.state_dir, settings_before), result)
        return result

    @staticmethod
    def _put_back(ctx: ToolContext, undone: Undone, result: ToolResult) -> None:
        """Say in the result, the audit log and an event which settings the command changed and were put back."""
        if not undone.changed:
            return
        names = ", ".join(f"{OBOTO_DIR_NAME}/{name}" for name in undone.changed)
        what = (f"the command changed {names}, which commands may not change: put back as it was "
                f"(its version is kept beside it as *{REJECTED_MARK}<time>)")
        if undone.failures:
            what += f"; could not put back {'; '.join(undone.failures)}"
        result.content += f"\n[{what}]"
        result.note = what
        if ctx.deps.events is not None:
            ctx.deps.events.publish(WorkspaceWarning(message=what))

    def _warn_once(self, ctx: ToolContext, message: str) -> None:
        """Say once per workspace session that commands run unsandboxed, and why."""
        events = ctx.deps.events
        if self._warned or events is None:
            return
        self._warned = True
        events.publish(WorkspaceWarning(message=message + "; they still get a clean environment, resource limits "
                                                           "and whole-tree cleanup"))

    @staticmethod
    def _result(report: CommandReport, capture: OutputCapture, timeout: float) -> ToolResult:
        exit_code = report.exit_code
        if report.timed_out:
            status = f"timed out after {timeout:g} s: the command and every process it started were stopped"
        elif exit_code is not None and exit_code < 0:
            status = f"killed by signal {signal.Signals(-exit_code).name}"
        else:
            status = f"exit code {exit_code}"
        if report.left_behind:
            status += "; it left background processes running, and they were stopped"
        if report.survivors:
            status += "; some of its processes could not be stopped"
        output = capture.text() or "(no output)"
        return ToolResult(
            not report.timed_out,
            f"[{status}]\n{output}",
            {
                "exit_code": exit_code,
                "timed_out": report.timed_out,
                "output_bytes": capture.total,
                "output_truncated": capture.omitted > 0,
            },
        )
