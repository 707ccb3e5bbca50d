"""How many tokens a model accepts and how many a request takes: the budget every turn's history must fit.

The window comes from `llm.context_tokens` when set, else litellm's model information, else a safe default;
what is kept free for the reply is taken off. Tokens are counted with litellm's counter (the model's own
tokenizer where litellm has it). Both import litellm, so callers run them off the event loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from oboto.core.config import LLMSettings
from oboto.llm.litellm_setup import load_litellm
from oboto.llm.resolve import is_local_model

DEFAULT_CONTEXT_TOKENS = 16_384
"""For a model litellm does not know: small enough for most models served today, local ones included."""
REPLY_RESERVE_TOKENS = 4_096
"""Kept free for the model's reply when `llm.max_tokens` does not say; at most a quarter of the window."""
LOCAL_CHARS_PER_TOKEN = 3
"""The embedded model trims to its own tokenizer at the last step; an estimate spares it litellm's import."""


@dataclass(frozen=True)
class ContextBudget:
    """The tokens a request to `model` may take: its context window less what is kept for the reply."""

    model: str
    window: int
    reserve: int
    source: str
    """Where the window comes from, in a few words (shown by /model and in a refusal)."""

    @property
    def request_tokens(self) -> int:
        return max(1, self.window - self.reserve)

    def describe(self) -> str:
        return f"a {self.window:,}-token context window ({self.source}), {self.reserve:,} of it kept for the reply"


def context_budget(model: str, options: LLMSettings) -> ContextBudget:
    """The budget of one request to `model` under `options` (`llm.context_tokens`, `llm.max_tokens`)."""
    if options.context_tokens:
        window, source = options.context_tokens, "set by llm.context_tokens"
    elif is_local_model(model):
        from oboto.llm.local import CONTEXT_TOKENS

        window, source = CONTEXT_TOKENS, "the embedded model's"
    elif known := _window_from_litellm(model):
        window, source = known, "from litellm's model information"
    else:
        window, source = DEFAULT_CONTEXT_TOKENS, "oboto's default, as litellm does not know the model"
    reserve = min(options.max_tokens or REPLY_RESERVE_TOKENS, window // 4)
    return ContextBudget(model=model, window=window, reserve=reserve, source=source)


def _window_from_litellm(model: str) -> int | None:
    try:
        info = load_litellm().get_model_info(model)
    except Exception:  # litellm raises for every model it has no entry for
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if window else None


def count_message_tokens(model: str, message: dict[str, Any]) -> int:
    """Tokens one chat message takes in a request to `model` (its role and framing included)."""
    if is_local_model(model):
        return _estimate(json.dumps(message, ensure_ascii=False))
    return int(load_litellm().token_counter(model=model, messages=[message]))


def count_tool_tokens(model: str, tools: list[dict[str, Any]] | None) -> int:
    """Tokens the tool schemas offered with a request take."""
    if not tools:
        return 0
    text = json.dumps(tools, ensure_ascii=False)
    if is_local_model(model):
        return _estimate(text)
    return int(load_litellm().token_counter(model=model, text=text))


def _estimate(text: str) -> int:
    return len(text) // LOCAL_CHARS_PER_TOKEN + 4
