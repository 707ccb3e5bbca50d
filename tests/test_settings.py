"""Settings precedence: environment > workspace config.toml > user config.toml; bad files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from oboto.core.config import ConfigProblem, load_settings
from oboto.core.paths import WorkspacePaths, user_config_dir


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_environment_beats_workspace_beats_user(workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(user_config_dir() / "config.toml", 'model = "user/model"\napi_base = "http://user"\n[tasks]\nmax_concurrent = 7\ntimeout_seconds = 60\n')
    _write(workspace.config, 'model = "workspace/model"\n[tasks]\nmax_concurrent = 5\n')
    settings, warnings = load_settings(workspace)
    assert warnings == []
    assert settings.model == "workspace/model"
    assert settings.api_base == "http://user"
    assert settings.tasks.max_concurrent == 5
    assert settings.tasks.timeout_seconds == 60
    monkeypatch.setenv("OBOTO_MODEL", "env/model")
    monkeypatch.setenv("OBOTO_TASKS__MAX_CONCURRENT", "2")
    settings, _ = load_settings(workspace)
    assert settings.model == "env/model"
    assert settings.tasks.max_concurrent == 2
    assert settings.tasks.timeout_seconds == 60


def test_broken_workspace_file_is_moved_aside_with_a_warning(workspace: WorkspacePaths) -> None:
    _write(workspace.config, "model = \n")
    settings, warnings = load_settings(workspace)
    assert settings.model is None
    assert len(warnings) == 1 and "not valid TOML" in warnings[0] and str(workspace.config) in warnings[0]
    [moved] = workspace.state_dir.glob("config.toml.corrupt-*")
    assert f"it was moved to {moved}" in warnings[0]
    assert moved.read_text() == "model = \n", "a person's config file is never overwritten: it is kept aside whole"
    assert not workspace.config.exists()


def test_the_doctor_reads_a_broken_workspace_file_without_moving_it(workspace: WorkspacePaths) -> None:
    _write(workspace.config, "model = \n")
    _settings, warnings = load_settings(workspace, quarantine=False)
    assert warnings[0].endswith("; it was ignored") and workspace.config.read_text() == "model = \n"


def test_invalid_value_names_the_field(workspace: WorkspacePaths) -> None:
    _write(workspace.config, "[tasks]\nmax_concurrent = 0\n")
    settings, warnings = load_settings(workspace)
    assert settings.tasks.max_concurrent == 3
    assert "tasks.max_concurrent" in warnings[0]


def test_bad_environment_value_is_a_clear_problem(workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBOTO_TASKS__MAX_CONCURRENT", "lots")
    with pytest.raises(ConfigProblem, match="OBOTO_TASKS__MAX_CONCURRENT"):
        load_settings(workspace)


@pytest.mark.parametrize("table, field", [("tasks", "retention_days"), ("memory", "episode_retention_days")])
def test_a_retention_that_is_not_positive_is_refused_naming_the_setting(workspace: WorkspacePaths, table: str,
                                                                        field: str) -> None:
    _write(workspace.config, f"[{table}]\n{field} = 0\n")
    settings, warnings = load_settings(workspace)
    assert getattr(getattr(settings, table), field) == {"tasks": 30, "memory": 90}[table]
    assert f"{table}.{field}: Input should be greater than 0" in warnings[0]
