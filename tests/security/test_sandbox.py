"""Finding 5 replayed: under the Landlock sandbox a command writes only the workspace, its temporary folder and
listed paths; background agents get no network; the settings decide what happens where Landlock is missing."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from attack_helpers import full_control, linux_only, needs_landlock, run_command
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.core.config import Settings
from oboto.core.events import WorkspaceWarning
from oboto.core.paths import WorkspacePaths

pytestmark = linux_only


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the workspace (which is tmp_path/project) that nothing may create."""
    return tmp_path / f"outside-{uuid.uuid4().hex}"


@pytest.fixture
def home_file() -> Iterator[Path]:
    path = Path.home() / f"oboto-attack-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback TCP port that accepts connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def connect_command(port: int) -> str:
    return (f"{sys.executable} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 5); "
            "print(\"connected\")'")


@needs_landlock
async def test_writes_outside_the_workspace_fail(
    registry: ToolRegistry, ctx: ToolContext, outside: Path, home_file: Path
) -> None:
    result = await run_command(registry, ctx, f"echo x > {outside}; touch {home_file}; echo x > /tmp/{outside.name}")
    assert f"cannot create {outside}: Permission denied" in result.content
    assert f"touch: cannot touch '{home_file}': Permission denied" in result.content
    assert not outside.exists() and not home_file.exists() and not Path("/tmp", outside.name).exists()


@needs_landlock
async def test_the_workspace_the_temp_folder_and_dev_null_stay_writable(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths
) -> None:
    result = await run_command(registry, ctx, 'mkdir -p build && echo made > build/out && echo t > "$TMPDIR/t" && '
                                              'cat "$TMPDIR/t" && echo gone > /dev/null && echo "$TMPDIR"')
    assert result.ok and result.content.startswith("[exit code 0]\nt\n")
    assert (workspace.root / "build" / "out").read_text() == "made\n"
    temp_dir = Path(result.content.splitlines()[-1])
    assert temp_dir.name.startswith("oboto-cmd-") and not temp_dir.exists(), "the temp folder goes with the command"


@needs_landlock
async def test_listed_paths_become_writable(registry: ToolRegistry, ctx: ToolContext, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    ctx.settings.shell.writable_paths = [str(cache)]
    result = await run_command(registry, ctx, f"echo cached > {cache}/entry")
    assert result.content == "[exit code 0]\n(no output)"
    assert (cache / "entry").read_text() == "cached\n"


@needs_landlock
async def test_background_agents_have_no_network(
    registry: ToolRegistry, workspace: WorkspacePaths, settings: Settings, listening_port: int
) -> None:
    settings.shell.allow_background = True
    background = ToolContext(paths=workspace, settings=settings, background=True, control=full_control())
    result = await run_command(registry, background, connect_command(listening_port))
    assert "PermissionError: [Errno 13] Permission denied" in result.content
    assert "connected" not in result.content


async def test_the_foreground_has_network_by_default(
    registry: ToolRegistry, ctx: ToolContext, listening_port: int
) -> None:
    result = await run_command(registry, ctx, connect_command(listening_port))
    assert result.content == "[exit code 0]\nconnected\n"


@needs_landlock
async def test_network_can_be_turned_off_for_the_foreground(
    registry: ToolRegistry, ctx: ToolContext, listening_port: int
) -> None:
    ctx.settings.shell.network = False
    result = await run_command(registry, ctx, connect_command(listening_port))
    assert "Permission denied" in result.content and "connected" not in result.content


@needs_landlock
async def test_oboto_cannot_be_signalled(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await run_command(registry, ctx, f"kill -TERM {os.getpid()}; echo still here")
    assert "kill: Operation not permitted" in result.content
    assert result.content.endswith("still here\n")


async def test_required_without_landlock_refuses_plainly(
    registry: ToolRegistry, ctx: ToolContext, landlock_unavailable: str, workspace: WorkspacePaths
) -> None:
    ctx.settings.shell.sandbox = "required"
    result = await run_command(registry, ctx, "touch ran")
    assert result.content == (
        'Error: command refused: shell.sandbox is "required", but the Landlock sandbox is unavailable '
        f'({landlock_unavailable}). Set shell.sandbox = "auto" in .oboto/config.toml to run commands with the '
        "other protections only."
    )
    assert not (workspace.root / "ran").exists()


async def test_auto_without_landlock_says_so_once_and_runs(
    registry: ToolRegistry, ctx: ToolContext, landlock_unavailable: str, events: list, outside: Path
) -> None:
    first = await run_command(registry, ctx, f"echo x > {outside}; env")
    second = await run_command(registry, ctx, "true")
    assert first.ok and second.ok
    assert outside.exists(), "without Landlock nothing stops the write: that is what the warning is for"
    warnings = [event.message for event in events if isinstance(event, WorkspaceWarning)]
    assert warnings == [f"run_command runs without the Landlock sandbox: {landlock_unavailable}; they still get a "
                        "clean environment, resource limits and whole-tree cleanup"]
    assert "OPENAI_API_KEY" not in first.content


async def test_off_runs_without_the_sandbox_and_without_a_warning(
    registry: ToolRegistry, ctx: ToolContext, events: list, outside: Path
) -> None:
    ctx.settings.shell.sandbox = "off"
    result = await run_command(registry, ctx, f"echo x > {outside}")
    assert result.ok and outside.read_text() == "x\n"
    assert not [event for event in events if isinstance(event, WorkspaceWarning)]
