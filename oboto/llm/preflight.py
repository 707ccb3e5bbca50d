"""Whether a call to a model can succeed at all, asked before the first call: a missing key or a model string
no provider serves is reported in plain words, and never sent or retried."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from oboto.llm.providers import missing_key_problem
from oboto.llm.resolve import is_local_model
from oboto.llm.types import LLMError


def unknown_provider_problem(model: str, api_base: str | None = None) -> str | None:
    """Why litellm cannot route `model` to any provider, or None (imports litellm: call off the event loop)."""
    from oboto.llm.litellm_setup import load_litellm

    try:
        load_litellm().get_llm_provider(model, api_base=api_base)
    except Exception:
        return (f"oboto does not know which provider serves the model {model!r}: write it as provider/model, for "
                "example openai/gpt-4o-mini or ollama/llama3.2 (OBOTO_MODEL, or /model in a conversation)")
    return None


def model_problem(model: str, environ: Mapping[str, str], *, api_base: str | None = None,
                  base_dir: Path | None = None) -> str | None:
    """Everything that can be known about `model` without calling it: the local model installed, the provider
    known to litellm, its key set (imports litellm for a litellm model). A relative GGUF path is inside
    `base_dir`."""
    if is_local_model(model):
        from oboto.llm.local import local_model_path

        try:
            local_model_path(model, base_dir)
        except LLMError as error:
            return error.message
        return None
    return missing_key_problem(model, environ, api_base=api_base) or unknown_provider_problem(model, api_base)
