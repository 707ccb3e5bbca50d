"""Resource limits per command (address space, CPU, file size, processes) and their range-checked settings."""

from __future__ import annotations

import sys

import pytest

from attack_helpers import linux_only, run_command
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.config import load_settings
from oboto.core.paths import WorkspacePaths

pytestmark = linux_only


def limit_line(limits: str, name: str) -> list[str]:
    """The soft and hard values of one row of /proc/self/limits."""
    line = next(line for line in limits.splitlines() if line.startswith(name))
    return line[len(name):].split()[:2]


async def test_the_default_limits_apply_to_every_command(registry: ToolRegistry, ctx: ToolContext) -> None:
    limits = (await run_command(registry, ctx, "cat /proc/self/limits")).content
    assert limit_line(limits, "Max address space") == [str(2048 * 1024 * 1024)] * 2
    assert limit_line(limits, "Max cpu time") == ["600", "605"]
    assert limit_line(limits, "Max file size") == [str(1024 * 1024 * 1024)] * 2
    assert int(limit_line(limits, "Max processes")[0]) >= 512


async def test_zero_means_no_limit(registry: ToolRegistry, ctx: ToolContext) -> None:
    ctx.settings.shell.memory_limit_mb = 0
    limits = (await run_command(registry, ctx, "cat /proc/self/limits")).content
    assert limit_line(limits, "Max address space") != [str(2048 * 1024 * 1024)] * 2


async def test_a_file_larger_than_the_limit_cannot_be_written(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths
) -> None:
    ctx.settings.shell.file_size_limit_mb = 1
    result = await run_command(registry, ctx, "head -c 3000000 /dev/zero > big; echo status=$?")
    assert "File size limit exceeded\nstatus=153\n" in result.content  # 128 + SIGXFSZ
    assert (workspace.root / "big").stat().st_size == 1024 * 1024


async def test_memory_beyond_the_limit_is_refused(registry: ToolRegistry, ctx: ToolContext) -> None:
    ctx.settings.shell.memory_limit_mb = 256
    result = await run_command(registry, ctx, f"{sys.executable} -c 'bytearray(512 * 1024 * 1024)'")
    assert "MemoryError" in result.content


@pytest.mark.parametrize("setting,value,message", [
    ("memory_limit_mb", 10, "must be 0 (no limit) or at least 64"),
    ("process_limit", -1, "greater than or equal to 0"),
    ("cpu_limit_seconds", 10**12, "less than or equal to 604800"),
    ("sandbox", "maybe", "'auto', 'required' or 'off'"),
])
def test_bad_values_in_config_are_refused_with_a_reason(
    workspace: WorkspacePaths, setting: str, value: object, message: str
) -> None:
    rendered = f'"{value}"' if isinstance(value, str) else str(value)
    workspace.config.write_text(f"[shell]\n{setting} = {rendered}\n")
    settings, warnings = load_settings(workspace)
    assert getattr(settings.shell, setting) != value
    assert len(warnings) == 1 and f"shell.{setting}" in warnings[0] and message in warnings[0]
