"""The hole Landlock leaves: a writable workspace is writable all the way down, so a command could edit
`.oboto/config.toml` (`permissions.mode = "full"`), add itself grants, or delete `stop.json` to lift an emergency
stop. Commands now see `.oboto/` read-only (their own mount namespace); where the kernel refuses one, whatever
they change among the settings is put back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from attack_helpers import FULL_MODE, linux_only, run_command
from cli_helpers import cli_env
from oboto.agent.sandbox import policy
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.commands import doctor
from oboto.core.audit import AuditLog
from oboto.core.events import WorkspaceWarning
from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall

pytestmark = linux_only

CONFIG = b'[permissions]\nmode = "ask"\n'
GRANTS = orjson.dumps({"version": 1, "grants": [{"scope": "conversation:chat", "rule": "read_file(*)"}]})
STOP = orjson.dumps({"version": 1, "active": True, "paused_schedules": ["s-12345678"]})
ATTACK = " ; ".join([
    "echo 'mode = \"full\"' >> .oboto/config.toml",
    """printf '{"version": 1, "grants": [{"scope": "conversation:chat", "rule": "run_command(*)"}]}' """
    "> .oboto/grants.json",
    "rm -f .oboto/stop.json",
    "printf -- '---\\nname: evil\\n---\\nDo anything.\\n' > .oboto/agents/evil.md",
    "echo still-works > made-by-the-command.txt",
])


@pytest.fixture
def settings_files(workspace: WorkspacePaths) -> dict[Path, bytes]:
    """The settings a person has: an asking mode, one grant, an emergency stop in force, a profile folder."""
    files = {workspace.config: CONFIG, workspace.grants: GRANTS, workspace.emergency_stop: STOP}
    for path, data in files.items():
        path.write_bytes(data)
    (workspace.state_dir / "agents").mkdir()
    return files


def assert_unchanged(workspace: WorkspacePaths, files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path
    assert list((workspace.state_dir / "agents").iterdir()) == [] or all(
        ".rejected-" in path.name for path in (workspace.state_dir / "agents").iterdir())


def rejected(workspace: WorkspacePaths) -> list[str]:
    return sorted(str(path.relative_to(workspace.state_dir)).split(".rejected-")[0]
                  for path in workspace.state_dir.rglob("*.rejected-*"))


@pytest.fixture
def audited(ctx: ToolContext, workspace: WorkspacePaths) -> AuditLog:
    ctx.audit = AuditLog(workspace.audit)
    return ctx.audit


@pytest.fixture
def bystander() -> Iterator[int]:
    """Another process of the same user outside any sandbox, whose /proc/<pid>/root shows the writable tree."""
    process = subprocess.Popen(["sleep", "120"])
    yield process.pid
    process.kill()
    process.wait()


async def test_commands_see_the_state_folder_read_only(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths, settings_files: dict[Path, bytes]
) -> None:
    result = await run_command(registry, ctx, ATTACK)
    assert result.content.count("Read-only file system") >= 3, result.content
    assert_unchanged(workspace, settings_files)
    assert not (workspace.state_dir / "agents" / "evil.md").exists() and rejected(workspace) == []
    assert (workspace.root / "made-by-the-command.txt").read_text() == "still-works\n"
    assert "put back" not in result.content, "nothing changed, so nothing was put back"


@pytest.mark.parametrize("landlock", ["with Landlock", "without Landlock"])
async def test_a_detour_through_another_process_root_is_refused(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths, settings_files: dict[Path, bytes],
    bystander: int, landlock: str, request: pytest.FixtureRequest
) -> None:
    """/proc/<pid>/root of a process outside shows the writable tree; the kernel refuses it to a command that is
    in a user namespace of its own, or (as root) holds fewer capabilities than that process."""
    if landlock == "without Landlock":
        request.getfixturevalue("landlock_unavailable")
    elif policy.landlock_status()[0] is None:
        pytest.skip(f"Landlock unavailable: {policy.landlock_status()[1]}")
    result = await run_command(registry, ctx, f"echo 'mode = \"full\"' >> /proc/{bystander}/root{workspace.config}")
    assert "Permission denied" in result.content, result.content
    assert_unchanged(workspace, settings_files)
    assert rejected(workspace) == []


async def test_where_the_kernel_refuses_a_mount_namespace_every_change_is_put_back(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths, settings_files: dict[Path, bytes],
    monkeypatch: pytest.MonkeyPatch, audited: AuditLog, events: list
) -> None:
    # As on a kernel without unprivileged user namespaces: the launcher is asked for no read-only mount.
    plain_spec = policy.SandboxPlan.command_spec
    monkeypatch.setattr(policy.SandboxPlan, "command_spec",
                        lambda plan, *args: _without_read_only(plain_spec(plan, *args)))
    result = await run_command(registry, ctx, ATTACK)
    assert_unchanged(workspace, settings_files)
    assert not (workspace.state_dir / "agents" / "evil.md").exists()
    assert rejected(workspace) == ["agents/evil.md", "config.toml", "grants.json"]
    assert (workspace.root / "made-by-the-command.txt").read_text() == "still-works\n"
    said = ("the command changed .oboto/agents/evil.md, .oboto/config.toml, .oboto/grants.json, .oboto/stop.json, "
            "which commands may not change: put back as it was")
    assert said in result.content
    assert [entry["note"] for entry in audited.entries()] == [result.note] and said in (result.note or "")
    assert [event.message for event in events if isinstance(event, WorkspaceWarning)] == [result.note]


async def test_a_profile_folder_swapped_for_a_link_is_put_back(
    registry: ToolRegistry, ctx: ToolContext, workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    profiles = workspace.state_dir / "agents"
    profiles.mkdir()
    (profiles / "helper.md").write_text("---\nname: helper\n---\nHelp carefully.\n")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "helper.md").write_text("---\nname: helper\npermission_mode: full\n---\nDo anything.\n")
    plain_spec = policy.SandboxPlan.command_spec
    monkeypatch.setattr(policy.SandboxPlan, "command_spec",
                        lambda plan, *args: _without_read_only(plain_spec(plan, *args)))
    result = await run_command(registry, ctx, f"rm -rf .oboto/agents && ln -s {planted} .oboto/agents")
    assert "put back" in result.content
    assert not profiles.is_symlink() and (profiles / "helper.md").read_text().endswith("Help carefully.\n")
    assert (planted / "helper.md").read_text().endswith("Do anything.\n"), "the link's target is left alone"


def _without_read_only(spec):
    spec.read_only = []
    return spec


def doctor_checks(workspace: WorkspacePaths) -> dict[str, doctor.Check]:
    return {check.name: check for check in doctor.gather(Namespace(workspace=str(workspace.root), json=False))}


def test_doctor_reports_the_read_only_state_folder(workspace: WorkspacePaths) -> None:
    check = doctor_checks(workspace)["state folder"]
    assert check.ok and not check.warning
    assert check.detail == ".oboto/ is read-only for commands (a mount namespace of their own)"


def test_doctor_reports_when_the_state_folder_is_not_protected(workspace: WorkspacePaths) -> None:
    workspace.config.write_text('[shell]\nsandbox = "off"\n')
    check = doctor_checks(workspace)["state folder"]
    assert check.warning and check.detail.startswith('not protected (shell.sandbox = "off")')


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run oboto as root without CAP_SYS_ADMIN (as in a container)")
def test_oboto_run_without_mount_namespaces_puts_the_settings_back(
    workspace: WorkspacePaths, llm_env: ScriptedLLM, settings_files: dict[Path, bytes]
) -> None:
    """Root without CAP_SYS_ADMIN, as in a container, gets no mount namespace: the real command falls back."""
    llm_env.add(Reply(tool_calls=[ScriptedToolCall("run_command", {"command": ATTACK})]), Reply(text="Done."))
    without_mounts = ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-m", "oboto",
                      "--workspace", str(workspace.root)]
    env = cli_env({**FULL_MODE, "OBOTO_PERMISSIONS__MODE": "full"})
    workspace.config.write_bytes(CONFIG.replace(b'"ask"', b'"full"'))  # the mode the command runs in
    settings_files[workspace.config] = workspace.config.read_bytes()
    ran = subprocess.run([*without_mounts, "run", "change the settings"], capture_output=True, text=True,
                         timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    assert_unchanged(workspace, settings_files)
    [tool_result] = [message["content"] for message in llm_env.requests[1]["messages"] if message["role"] == "tool"]
    assert "which commands may not change: put back" in tool_result
    reported = subprocess.run([*without_mounts, "doctor", "--json"], capture_output=True, text=True, timeout=120,
                              env=env, stdin=subprocess.DEVNULL)
    state = {check["check"]: check for check in orjson.loads(reported.stdout)}["state folder"]
    assert state["warning"] and "cannot be made read-only here (the kernel refused a mount namespace" in state["detail"]
