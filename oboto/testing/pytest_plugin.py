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


@pytest.fixture(scope="session")
def litellm_imported() -> None:
    """litellm imported once per test run, before the first test that talks to the scripted server: its cold
    import (4 s idle, 15 s or more on a loaded machine) then never eats into a test's own waits."""
    import os

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    from oboto.llm.litellm_setup import load_litellm

    load_litellm()


@pytest.fixture
def llm_env(llm_server: ScriptedLLM, monkeypatch: pytest.MonkeyPatch, litellm_imported: None) -> ScriptedLLM:
    """The scripted server, configured through the environment as oboto's model, with fast retries."""
    monkeypatch.setenv("OBOTO_MODEL", "openai/scripted")
    monkeypatch.setenv("OBOTO_API_BASE", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OBOTO_LLM__BACKOFF_INITIAL_SECONDS", "0.01")
    monkeypatch.setenv("OBOTO_LLM__BACKOFF_MAX_SECONDS", "0.05")
    return llm_server
