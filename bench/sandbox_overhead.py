"""The cost of the contained shell per command: run_command sandboxed (Landlock) against run_command with
`shell.sandbox = "off"`, and against a bare `/bin/sh -c` subprocess, measured interleaved in the same run."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from common import report, temp_workspace

from oboto.agent.approvals import CallControl
from oboto.agent.sandbox.policy import landlock_status
from oboto.agent.tools import shell_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.config import load_settings
from oboto.core.paths import WorkspacePaths
from oboto.core.permissions import PermissionPolicy

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = {"true": ("true", 30), "ls -R": (f"ls -R {REPO}", 10)}


async def _bare_shell(command: str) -> None:
    process = await asyncio.create_subprocess_shell(
        command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    await process.communicate()


async def _measure(command: str, runs: int, contexts: dict[str, ToolContext]) -> dict[str, float]:
    registry = ToolRegistry(shell_tools())
    samples: dict[str, list[float]] = {name: [] for name in [*contexts, "bare"]}
    for _ in range(runs):
        for name, ctx in contexts.items():
            started = time.perf_counter()
            result = await registry.execute("run_command", {"command": command}, ctx)
            samples[name].append(time.perf_counter() - started)
            assert result.ok, result.content
        started = time.perf_counter()
        await _bare_shell(command)
        samples["bare"].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def main() -> None:
    abi, unavailable = landlock_status()
    if abi is None:
        print(f"sandbox overhead: not measured, Landlock is unavailable ({unavailable})")
        return
    paths = WorkspacePaths.for_root(temp_workspace())
    paths.ensure()
    contexts = {}
    for mode in ("auto", "off"):
        settings, _warnings = load_settings(paths)
        settings.shell.sandbox = mode
        contexts[mode] = ToolContext(paths=paths, settings=settings, control=CallControl(PermissionPolicy("full")))
    for label, (command, runs) in WORKLOADS.items():
        medians = asyncio.run(_measure(command, runs, contexts))
        report(f"run_command {label}, Landlock ABI {abi}", medians["auto"], "ms", medians["off"],
               f"run_command {label}, sandbox off")
        report(f"run_command {label}, Landlock ABI {abi}", medians["auto"], "ms", medians["bare"],
               f"bare /bin/sh -c {label}")


if __name__ == "__main__":
    main()
