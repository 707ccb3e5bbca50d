"""run_command: one shell command in the workspace, with a timeout, an output cap and whole-group cleanup."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from pydantic import Field

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from oboto.agent.tools.workspace_paths import display_path, resolve_in_workspace

MAX_TIMEOUT_SECONDS = 3600.0
KILL_GRACE_SECONDS = 2.0
LEFTOVER_GRACE_SECONDS = 0.5
"""How long output may stay open after the shell exits before the processes holding it are stopped."""
_SETTLE_SECONDS = 1.0
_POLL_SECONDS = 0.05
_READ_CHUNK = 64 * 1024


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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def process_group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs; zombies waiting for their parent to reap them do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat_line = handle.read()
            except OSError:
                continue
            # Fields after the parenthesised command name: state, ppid, pgrp, ...
            fields = stat_line[stat_line.rindex(b")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != b"Z":
                return True
    return False


async def stop_process_group(pgid: int) -> None:
    """SIGTERM every process of the group, then SIGKILL whatever still runs after the grace period."""
    _signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_GRACE_SECONDS
    try:
        while process_group_alive(pgid) and loop.time() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
    finally:
        # Runs even when cancelled during the grace period: nothing the command started may outlive it.
        if process_group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)


async def _read_into(stream: asyncio.StreamReader, capture: OutputCapture) -> None:
    while chunk := await stream.read(_READ_CHUNK):
        capture.feed(chunk)


def _child_environment() -> dict[str, str]:
    # Whatever a command prints ends up in conversation logs, which must never hold API keys.
    return {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}


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
        timeout = args.timeout_seconds or ctx.settings.shell.timeout_seconds
        capture = OutputCapture(ctx.settings.shell.max_output_bytes)
        process = await self._start(args.command, cwd)
        try:
            timed_out, left_behind = await self._supervise(process, capture, timeout)
        except BaseException:
            # Cancelled (Esc, task cancel, shutdown): the command's whole process group goes before we do.
            await stop_process_group(process.pid)
            raise
        return self._result(process.returncode, capture, timeout, timed_out, left_behind)

    @staticmethod
    async def _start(command: str, cwd: Path) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_shell(
                command,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=_child_environment(),
            )
        except OSError as error:
            raise ToolError(f"could not start the command: {error}") from error

    @staticmethod
    async def _supervise(
        process: asyncio.subprocess.Process, capture: OutputCapture, timeout: float
    ) -> tuple[bool, bool]:
        """Wait for the command within `timeout`; returns (timed out, background processes had to be stopped)."""
        assert process.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reader = asyncio.create_task(_read_into(process.stdout, capture))
        exited = asyncio.create_task(process.wait())
        timed_out = left_behind = False
        try:
            # The exit status is polled too: on some Pythons wait() also waits for the output pipe,
            # which a background child of the shell can hold open long after the shell exited.
            while process.returncode is None and (remaining := deadline - loop.time()) > 0:
                waiting = {task for task in (reader, exited) if not task.done()}
                await asyncio.wait(waiting, timeout=min(remaining, _POLL_SECONDS), return_when=asyncio.FIRST_COMPLETED)
            if process.returncode is None:
                timed_out = True
            elif not reader.done():
                await asyncio.wait({reader}, timeout=LEFTOVER_GRACE_SECONDS)
                left_behind = not reader.done()
            if timed_out or left_behind:
                await stop_process_group(process.pid)
            settle_by = loop.time() + _SETTLE_SECONDS
            while (not reader.done() or process.returncode is None) and loop.time() < settle_by:
                await asyncio.sleep(_POLL_SECONDS)
        finally:
            for task in (reader, exited):
                if not task.done():
                    task.cancel()
        return timed_out, left_behind

    @staticmethod
    def _result(
        exit_code: int | None, capture: OutputCapture, timeout: float, timed_out: bool, left_behind: bool
    ) -> ToolResult:
        if timed_out:
            status = f"timed out after {timeout:g} s: the command and every process it started were stopped"
        elif exit_code is not None and exit_code < 0:
            status = f"killed by signal {signal.Signals(-exit_code).name}"
        else:
            status = f"exit code {exit_code}"
        if left_behind:
            status += "; it left background processes holding its output, and they were stopped"
        output = capture.text() or "(no output)"
        return ToolResult(
            not timed_out,
            f"[{status}]\n{output}",
            {
                "exit_code": exit_code,
                "timed_out": timed_out,
                "output_bytes": capture.total,
                "output_truncated": capture.omitted > 0,
            },
        )
