"""Model errors in plain words, never retried when no call can succeed: a missing or rejected key says which
variable to set, an unknown model says how to name one, and both are known before the first call."""

from __future__ import annotations

import openai
import orjson
import pytest

from cli_helpers import oboto
from oboto.core.config import Settings
from oboto.llm.client import LLMClient, classify_error
from oboto.llm.types import LLMError
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM


def test_the_missing_key_case_exactly_as_a_person_types_it(workspace) -> None:
    """`env -u OPENAI_API_KEY OBOTO_MODEL=openai/gpt-4o-mini oboto run hi`"""
    result = oboto(workspace.root, "run", "hi", env={"OBOTO_MODEL": "openai/gpt-4o-mini"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("oboto: openai/gpt-4o-mini needs an API key: set OPENAI_API_KEY, or choose "
                                     "another model with OBOTO_MODEL")
    assert "retrying" not in result.stderr and "HTTP 500" not in result.stderr and result.stdout == ""
    assert workspace.conversation_file("chat").read_bytes() == b"", "a prompt that cannot be sent is not stored"


def test_a_missing_key_sends_no_request(workspace, llm_server: ScriptedLLM) -> None:
    result = oboto(workspace.root, "run", "hi", env={"OBOTO_MODEL": "openai/gpt-4o-mini",
                                                     "OBOTO_API_BASE": llm_server.base_url})
    assert result.returncode == 2 and "set OPENAI_API_KEY" in result.stderr
    assert llm_server.requests == [], "no request, so nothing to retry"


def test_a_rejected_key_is_tried_once_and_names_the_variable(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(fault="401"), Reply(text="never reached"))
    result = oboto(workspace.root, "run", "hi")
    assert result.returncode == 1
    assert "rejected the API key" in result.stderr and "Check OPENAI_API_KEY" in result.stderr
    assert len(llm_env.requests) == 1 and "retrying" not in result.stderr


def test_an_unknown_model_is_refused_before_any_request(workspace, llm_env: ScriptedLLM) -> None:
    result = oboto(workspace.root, "run", "hi", env={"OBOTO_MODEL": "frobnicator-9000"})
    assert result.returncode == 2
    assert "does not know which provider serves the model 'frobnicator-9000'" in result.stderr
    assert "provider/model" in result.stderr and llm_env.requests == []


async def test_the_client_refuses_without_a_key_before_calling(llm_server: ScriptedLLM, monkeypatch) -> None:
    """Background tasks and every other caller of the client get the same words, with no request made."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = LLMClient(Settings(model="openai/gpt-4o-mini", api_base=llm_server.base_url))
    with pytest.raises(LLMError) as refused:
        await client.complete([{"role": "user", "content": "hi"}])
    assert refused.value.kind == "auth" and not refused.value.transient
    assert "set OPENAI_API_KEY" in refused.value.message and llm_server.requests == []


def test_the_sdks_missing_credentials_error_is_an_auth_error(monkeypatch) -> None:
    """What litellm reports as HTTP 500 when a provider's SDK has no key is not a server error to retry."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    error = classify_error(openai.OpenAIError("Missing credentials. Please pass an `api_key`, or set the "
                                              "`OPENAI_API_KEY` environment variable."), model="openai/gpt-4o-mini")
    assert error.kind == "auth" and not error.transient
    assert "set OPENAI_API_KEY" in error.message


async def test_a_turn_without_a_key_is_refused_and_stores_nothing(runtime: Runtime, llm_env, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    outcome = await runtime.chat("chat", "hello")
    assert outcome.status == "refused" and "set OPENAI_API_KEY" in (outcome.error or "")
    assert runtime.conversations.messages("chat") == [] and llm_env.requests == []


def test_doctor_says_which_variable_to_set(workspace) -> None:
    result = oboto(workspace.root, "doctor", "--json", env={"OBOTO_MODEL": "anthropic/claude-sonnet-4-5"})
    checks = {check["check"]: check for check in orjson.loads(result.stdout)}
    assert result.returncode == 1
    assert not checks["api key"]["ok"] and "set ANTHROPIC_API_KEY" in checks["api key"]["detail"]


def test_doctor_needs_no_key_for_a_keyless_provider(workspace) -> None:
    result = oboto(workspace.root, "doctor", "--json", env={"OBOTO_MODEL": "ollama/llama3.2"})
    checks = {check["check"]: check for check in orjson.loads(result.stdout)}
    assert checks["api key"]["ok"] and checks["api key"]["detail"] == "ollama needs no key"
