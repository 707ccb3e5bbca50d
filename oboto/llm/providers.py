"""Which provider a litellm model string names, and which environment variable holds its key."""

from __future__ import annotations

from collections.abc import Mapping

PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
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
    "azure": "AZURE_API_KEY",
    "bedrock": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "huggingface": "HF_TOKEN",
}
KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat", "local", "lm_studio", "hosted_vllm", "llamafile"})
# Credentials that may come from elsewhere than one variable (profiles, instance roles, gcloud): not checked ahead.
CREDENTIAL_CHAIN_PROVIDERS = frozenset({"bedrock", "vertex_ai", "sagemaker", "azure"})
BARE_MODEL_PREFIXES = {"claude": "anthropic", "gemini": "gemini", "mistral": "mistral", "command": "cohere"}


def provider_of(model: str) -> str:
    """The provider of a litellm model string; bare names are recognised by their family, else OpenAI's."""
    if "/" in model:
        return model.split("/", 1)[0].lower()
    for prefix, provider in BARE_MODEL_PREFIXES.items():
        if model.lower().startswith(prefix):
            return provider
    return "openai"


def provider_key_env(model: str) -> str | None:
    """The variable the provider's key is read from, or None for providers that need no key."""
    provider = provider_of(model)
    if provider in KEYLESS_PROVIDERS:
        return None
    return PROVIDER_KEY_ENV.get(provider, f"{provider.upper().replace('-', '_')}_API_KEY")


def missing_key_problem(model: str, environ: Mapping[str, str], *, api_base: str | None = None) -> str | None:
    """Why `model` cannot be called for want of its API key (saying which variable to set), or None."""
    provider = provider_of(model)
    if provider in KEYLESS_PROVIDERS or provider in CREDENTIAL_CHAIN_PROVIDERS:
        return None
    variable = provider_key_env(model)
    if variable is None or environ.get(variable, "").strip():
        return None
    problem = f"{model} needs an API key: set {variable}, or choose another model with OBOTO_MODEL"
    if api_base:
        problem += f" (a server at {api_base} that checks no key accepts any value)"
    return problem
