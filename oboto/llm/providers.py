"""Which environment variable holds the key for a litellm model's provider."""

from __future__ import annotations

PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
}
KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat", "local", "lm_studio", "hosted_vllm", "llamafile"})


def provider_of(model: str) -> str:
    """The provider prefix of a litellm model string; bare model names are OpenAI's."""
    return model.split("/", 1)[0].lower() if "/" in model else "openai"


def provider_key_env(model: str) -> str | None:
    """The variable the provider's key is read from, or None for providers that need no key."""
    provider = provider_of(model)
    if provider in KEYLESS_PROVIDERS:
        return None
    return PROVIDER_KEY_ENV.get(provider, f"{provider.upper()}_API_KEY")
