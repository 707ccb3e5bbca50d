"""What the attack tests share: the secrets, the real tool call, and looking for processes and files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from oboto.agent.approvals import CallControl
from oboto.agent.sandbox import policy
from oboto.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from oboto.core.permissions import PermissionPolicy

SECRETS = {
    "OPENAI_API_KEY": "sk-proj-attack-openai-5f2c9a71",
    "GITHUB_TOKEN": "ghp_attackGithubToken8d41e0",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/attack/bPxRfiCYEXAMPLEKEY",
}

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux's")
needs_landlock = pytest.mark.skipif(policy.landlock_status()[0] is None,
                                    reason=f"Landlock unavailable: {policy.landlock_status()[1]}")


FULL_MODE = {"OBOTO_PERMISSIONS__MODE": "full"}
"""For `oboto run`: these tests are about what a command can do once it runs, not about asking first."""


def full_control() -> CallControl:
    """Mode full, for the same reason as FULL_MODE."""
    return CallControl(PermissionPolicy("full"))


async def run_command(registry: ToolRegistry, ctx: ToolContext, command: str, **arguments: object) -> ToolResult:
    return await registry.execute("run_command", {"command": command, "timeout_seconds": 20, **arguments}, ctx)


RUN_ROOT: list[str] = []
"""This test run's temporary root (set by conftest): only processes working under it are this run's."""


def processes_running(*argv: str) -> list[int]:
    """Live processes of this test run whose command line is exactly `argv` (zombies are dead, only not yet
    reaped); another suite running at the same time on the machine has its own temporary root."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd") if cmdline == wanted else ""
        except OSError:
            continue
        ours = not RUN_ROOT or cwd == RUN_ROOT[0] or cwd.startswith(RUN_ROOT[0] + os.sep)
        if cmdline == wanted and ours and stat[stat.rindex(b")") + 2 :][:1] != b"Z":
            found.append(int(entry))
    return found


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]


def secrets_found_in(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]
