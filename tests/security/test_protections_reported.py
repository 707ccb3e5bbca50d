"""`oboto doctor` reports each protection of the contained shell: sandbox, limits, environment, process tree,
redaction — found by running a command exactly as run_command does."""

from __future__ import annotations

from argparse import Namespace

import orjson
import pytest

from attack_helpers import linux_only, needs_landlock
from cli_helpers import oboto
from oboto.agent.sandbox import policy
from oboto.commands import doctor
from oboto.core.paths import WorkspacePaths

pytestmark = linux_only


def checks(workspace: WorkspacePaths) -> dict[str, doctor.Check]:
    return {check.name: check for check in doctor.gather(Namespace(workspace=str(workspace.root), json=False))}


@needs_landlock
def test_doctor_reports_every_protection(workspace: WorkspacePaths, llm_env) -> None:
    result = oboto(workspace.root, "doctor", "--json", env={"GITHUB_TOKEN": "ghp_doctorTokenValue123"})
    assert result.returncode == 0, result.stdout
    reported = {check["check"]: check for check in orjson.loads(result.stdout)}
    abi = policy.landlock_status()[0]
    assert reported["sandbox"]["detail"] == (
        f"landlock ABI {abi} (writes: workspace, temp; network: on foreground, off background)")
    assert reported["limits"]["detail"] == (
        "address space 2048 MiB, CPU 600 s, file size 1024 MiB, 512 processes per command")
    assert reported["environment"]["detail"].startswith("allowlist only: PATH, HOME, LANG")
    assert "child subreaper" in reported["process tree"]["detail"]
    assert "GITHUB_TOKEN" in reported["redaction"]["detail"] and "ghp_doctorTokenValue123" not in result.stdout


def test_doctor_says_why_landlock_is_unavailable(workspace: WorkspacePaths, landlock_unavailable: str) -> None:
    sandbox = checks(workspace)["sandbox"]
    assert sandbox.ok and sandbox.warning
    assert sandbox.detail == f"unavailable: {landlock_unavailable} (commands run with the other protections)"


def test_doctor_fails_when_a_required_sandbox_is_unavailable(
    workspace: WorkspacePaths, landlock_unavailable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBOTO_SHELL__SANDBOX", "required")
    sandbox = checks(workspace)["sandbox"]
    assert not sandbox.ok
    assert sandbox.detail == f"unavailable: {landlock_unavailable} (commands are refused)"


def test_doctor_reports_configured_limits_and_variables(workspace: WorkspacePaths) -> None:
    workspace.config.write_text('[shell]\nmemory_limit_mb = 0\nprocess_limit = 64\npass_env = ["DISPLAY"]\n')
    reported = checks(workspace)
    assert reported["limits"].detail == (
        "address space unlimited, CPU 600 s, file size 1024 MiB, 64 processes per command")
    assert reported["environment"].detail.endswith("; plus shell.pass_env: DISPLAY")


@needs_landlock
def test_doctor_reports_configured_writable_paths_and_network(workspace: WorkspacePaths) -> None:
    workspace.config.write_text('[shell]\nwritable_paths = ["~/.cache"]\nbackground_network = true\n')
    assert checks(workspace)["sandbox"].detail.endswith(
        "(writes: workspace, temp, ~/.cache; network: on foreground, on background)")
