"""Fixtures for the attack tests: secrets in oboto's environment, the real run_command, and no leaked processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from oboto.agent.sandbox import policy
from oboto.agent.tools import shell_tools
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.agent.tools.deps import ToolDeps
from oboto.core.bus import EventBus
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths

from attack_helpers import RUN_ROOT, SECRETS, full_control, processes_running



@pytest.fixture
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """oboto runs with a provider key, a GitHub token and an AWS secret in its environment."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture
def events() -> list:
    """Every event the tool context's bus publishes."""
    return []


@pytest.fixture
def ctx(workspace: WorkspacePaths, settings: Settings, events: list) -> ToolContext:
    bus = EventBus(workspace.events)
    bus.subscribe(events.append)
    return ToolContext(paths=workspace, settings=settings, deps=ToolDeps(events=bus), control=full_control())


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(shell_tools())


@pytest.fixture
def landlock_unavailable(monkeypatch: pytest.MonkeyPatch) -> str:
    """This kernel offers no Landlock, as on an old or locked-down system."""
    why = "this kernel (4.19.0) has no Landlock (it needs Linux 5.13 or newer built with CONFIG_SECURITY_LANDLOCK)"
    monkeypatch.setattr(policy, "landlock_status", lambda: (None, why))
    return why


@pytest.fixture(scope="session", autouse=True)
def this_runs_processes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Process checks look only under this run's temporary root, so a suite running beside it cannot fail them."""
    RUN_ROOT[:] = [str(tmp_path_factory.getbasetemp().resolve())]


@pytest.fixture
def leftover_sleeps() -> Iterator[tuple[str, ...]]:
    """The sleep durations attack commands use; whatever survives a test is killed, so the suite never leaks."""
    durations = ("987", "988", "989", "990")
    yield durations
    for duration in durations:
        for pid in processes_running("sleep", duration):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


