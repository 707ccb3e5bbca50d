"""Shared fixtures: every test gets an isolated workspace and user config folder, and no real network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oboto.core.config import Settings, load_settings
from oboto.core.paths import WorkspacePaths

pytest_plugins = ["oboto.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own config or keys, or writes outside tmp_path."""
    for key in list(os.environ):
        if key.startswith("OBOTO_") or key.endswith("_API_KEY"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OBOTO_CONFIG_DIR", str(tmp_path / "user-config"))
    # Tests choose their model explicitly; an installed `local` extra must not stand in for "nothing configured".
    monkeypatch.setenv("OBOTO_LOCAL_FALLBACK", "false")
    # Nor may a model server someone runs on this machine's default ports (tests/test_local_discovery.py turns it on).
    monkeypatch.setenv("OBOTO_LOCAL_DISCOVERY", "false")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def workspace(tmp_path: Path) -> WorkspacePaths:
    root = tmp_path / "project"
    root.mkdir()
    paths = WorkspacePaths.for_root(root)
    paths.ensure()
    return paths


@pytest.fixture
def settings(workspace: WorkspacePaths) -> Settings:
    loaded, _warnings = load_settings(workspace)
    return loaded


@pytest.fixture
def runtime(workspace: WorkspacePaths, llm_env):
    """A Runtime on the test workspace whose model is the scripted server (not the runner)."""
    from oboto.services.runtime import Runtime

    return Runtime.open(workspace.root)


@pytest.fixture
async def runner_runtime(workspace: WorkspacePaths, llm_env):
    """A Runtime that executes tasks, fires schedules and ticks the loop, as the runner process does."""
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(workspace.root)
    runtime.activate_runner()
    yield runtime
    await runtime.deactivate_runner("the test finished")


@pytest.fixture
def steady_status_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The status line's elapsed times frozen at 0.0 s, so a snapshot taken after a real turn is the same on
    every run."""
    from oboto.tui.widgets.status_line import StatusLine

    monkeypatch.setattr(StatusLine, "clock", lambda: 0.0)
