"""pytest fixtures for driving oboto with the scripted LLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oboto.testing.server import ScriptedLLM


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLM]:
    """A started scripted server with nothing queued; stopped after the test."""
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm_env(llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    """The scripted server, configured through the environment as oboto's model, with fast retries."""
    monkeypatch.setenv("OBOTO_MODEL", "openai/scripted")
    monkeypatch.setenv("OBOTO_API_BASE", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OBOTO_LLM__BACKOFF_INITIAL_SECONDS", "0.01")
    monkeypatch.setenv("OBOTO_LLM__BACKOFF_MAX_SECONDS", "0.05")
    return llm_server
