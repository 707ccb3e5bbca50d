"""LLMClient through the real litellm path against the scripted server: streaming, tools, usage, faults, retries."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oboto.core.config import LLMSettings, Settings
from oboto.core.log_files import StateLogHandler
from oboto.llm.client import LLMClient, api_key_variable, backoff_delay, classify_error, scrub_secrets
from oboto.llm.litellm_setup import LIBRARY_LOGGERS, load_litellm, route_library_logs
from oboto.llm.types import LLMError
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall, async_wait_until, wait_until

SECRET_KEY = "sk-oboto-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]
TOOLS = [
    {"type": "function", "function": {"name": name, "description": name, "parameters": {"type": "object"}}}
    for name in ("read_file", "write_file")
]


@pytest.fixture(scope="module", autouse=True)
def warm_litellm() -> Iterator[None]:
    """litellm's first call in a process spends ~0.5 s on lazy imports; pay it once so tiny timeouts time the server."""
    with pytest.MonkeyPatch.context() as patch, ScriptedLLM() as server:
        patch.setenv("OPENAI_API_KEY", "warm-up-key")
        asyncio.run(make_client(server).complete(MESSAGES))
    yield


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)


def make_client(server: ScriptedLLM, **llm: Any) -> LLMClient:
    options: dict[str, Any] = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05, "max_retries": 2,
                               "timeout_seconds": 5.0}
    return LLMClient(Settings(model="openai/scripted", api_base=server.base_url, llm=LLMSettings(**options | llm)))


class Recorder:
    """What a consumer sees: shown text (cleared on restart), restarts and retries."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.restarts = 0
        self.retries: list[tuple[int, float, LLMError]] = []

    def on_text(self, piece: str) -> None:
        self.pieces.append(piece)

    def on_restart(self) -> None:
        self.restarts += 1
        self.pieces.clear()

    def on_retry(self, attempt: int, delay: float, error: LLMError) -> None:
        self.retries.append((attempt, delay, error))

    @property
    def shown(self) -> str:
        return "".join(self.pieces)


# -- happy paths -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_streamed_text_reaches_on_text_in_pieces(llm_server: ScriptedLLM) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    llm_server.add(Reply(text=text, chunk_size=5))
    seen = Recorder()

    response = await make_client(llm_server).complete(MESSAGES, on_text=seen.on_text)

    assert response.text == text
    assert seen.shown == text
    assert len(seen.pieces) == 9  # 44 characters in 5-character chunks
    assert response.finish_reason == "stop"
    assert response.attempts == 1
    assert llm_server.requests[0]["stream"] is True
    assert llm_server.requests[0]["messages"] == MESSAGES


@pytest.mark.asyncio
async def test_non_streaming_reply(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="all at once", prompt_tokens=7, completion_tokens=3))
    seen = Recorder()

    response = await make_client(llm_server).complete(MESSAGES, on_text=seen.on_text, stream=False)

    assert response.text == "all at once"
    assert seen.pieces == ["all at once"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)
    assert not llm_server.requests[0].get("stream")


@pytest.mark.asyncio
async def test_two_streamed_tool_calls_are_reassembled(llm_server: ScriptedLLM) -> None:
    first = {"path": "src/app.py"}
    second = {"path": "notes.md", "content": "a longer body that spans many chunks"}
    llm_server.add(Reply(text="Let me look.", chunk_size=4, tool_calls=[
        ScriptedToolCall("read_file", first), ScriptedToolCall("write_file", second)]))

    response = await make_client(llm_server).complete(MESSAGES, TOOLS)

    assert [call.name for call in response.tool_calls] == ["read_file", "write_file"]
    assert [json.loads(call.arguments) for call in response.tool_calls] == [first, second]
    assert len({call.id for call in response.tool_calls}) == 2
    assert response.text == "Let me look."
    assert response.finish_reason == "tool_calls"
    assert [tool["function"]["name"] for tool in llm_server.requests[0]["tools"]] == ["read_file", "write_file"]


@pytest.mark.asyncio
async def test_usage_is_counted_from_the_stream(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="counted", prompt_tokens=123, completion_tokens=45))

    response = await make_client(llm_server).complete(MESSAGES)

    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (123, 45)
    assert response.usage.cost_usd == 0.0  # litellm has no price for the scripted model
    assert llm_server.requests[0]["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_cost_is_priced_for_a_model_litellm_knows(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="priced", prompt_tokens=1_000_000, completion_tokens=0))
    settings = Settings(model="openai/gpt-4o-mini", api_base=llm_server.base_url)

    response = await LLMClient(settings).complete(MESSAGES)

    assert 0.01 < response.usage.cost_usd < 10.0  # a million input tokens of a small model: cents to dollars


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [True, False])
async def test_usage_is_estimated_when_the_provider_reports_none(llm_server: ScriptedLLM, stream: bool) -> None:
    llm_server.add(Reply(text="a reply of several words that must be counted somehow", report_usage=False))

    response = await make_client(llm_server).complete(MESSAGES, stream=stream)

    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [True, False])
async def test_malformed_tool_arguments_are_passed_through_raw(llm_server: ScriptedLLM, stream: bool) -> None:
    broken = '{"path": "a.txt", "content": '
    llm_server.add(Reply(tool_calls=[ScriptedToolCall("write_file", broken)]))

    response = await make_client(llm_server).complete(MESSAGES, TOOLS, stream=stream)

    assert response.tool_calls[0].name == "write_file"
    assert response.tool_calls[0].arguments == broken


# -- transient faults are retried --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "kind"), [
    ("429", "rate_limit"), ("500", "server"), ("503", "server"), ("drop", "connection"),
])
async def test_transient_fault_then_success(llm_server: ScriptedLLM, fault: str, kind: str) -> None:
    llm_server.add(Reply(fault=fault), Reply(text="ok"))
    seen = Recorder()

    response = await make_client(llm_server).complete(MESSAGES, on_text=seen.on_text, on_retry=seen.on_retry)

    assert response.text == "ok"
    assert response.attempts == 2
    assert len(llm_server.requests) == 2
    [(attempt, delay, error)] = seen.retries
    assert (attempt, error.kind, error.transient) == (1, kind, True)
    assert 0.0 < delay <= 0.05


@pytest.mark.asyncio
async def test_retry_after_is_honoured_within_the_cap(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="429", retry_after=0.03), Reply(fault="429", retry_after=60), Reply(text="ok"))
    seen = Recorder()

    response = await make_client(llm_server).complete(MESSAGES, on_retry=seen.on_retry)

    assert response.attempts == 3
    assert [delay for _, delay, _ in seen.retries] == [pytest.approx(0.03), pytest.approx(0.05)]


@pytest.mark.asyncio
async def test_retries_stop_after_max_retries(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(lambda request: Reply(fault="503"))

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server, max_retries=2).complete(MESSAGES)

    assert caught.value.kind == "server"
    assert caught.value.attempts == 3
    assert caught.value.status_code == 503
    assert len(llm_server.requests) == 3


@pytest.mark.asyncio
async def test_drop_midstream_restarts_the_shown_text(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="drop_midstream", text="this reply is cut off early", chunk_size=4),
                   Reply(text="complete reply"))
    seen = Recorder()
    shown_before_restart: list[str] = []

    def on_restart() -> None:
        shown_before_restart.append(seen.shown)
        seen.on_restart()

    response = await make_client(llm_server).complete(
        MESSAGES, on_text=seen.on_text, on_restart=on_restart, on_retry=seen.on_retry)

    assert shown_before_restart and shown_before_restart[0].startswith("this")
    assert seen.restarts == 1
    assert seen.shown == response.text == "complete reply"
    assert seen.retries[0][2].kind == "connection"
    assert response.attempts == 2


@pytest.mark.asyncio
async def test_drop_midstream_without_on_restart_is_not_retried(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="drop_midstream", text="this reply is cut off early", chunk_size=4),
                   Reply(text="never requested"))
    seen = Recorder()

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server).complete(MESSAGES, on_text=seen.on_text)

    assert caught.value.kind == "connection"
    assert seen.shown.startswith("this")
    assert len(llm_server.requests) == 1


# -- timeouts ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_reply_times_out_then_retry_succeeds(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="slow", delay=5), Reply(text="fast"))
    seen = Recorder()
    started = time.monotonic()

    response = await make_client(llm_server, timeout_seconds=0.3).complete(MESSAGES, on_retry=seen.on_retry)

    assert response.text == "fast"
    assert response.attempts == 2
    assert seen.retries[0][2].kind == "timeout"
    assert time.monotonic() - started < 2.0


@pytest.mark.asyncio
async def test_every_attempt_slow_raises_timeout(llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(lambda request: Reply(fault="slow", delay=5))

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server, timeout_seconds=0.2, max_retries=1).complete(MESSAGES)

    assert caught.value.kind == "timeout"
    assert caught.value.attempts == 2
    assert "0.2 seconds" in caught.value.message
    assert len(llm_server.requests) == 2


@pytest.mark.asyncio
async def test_stalled_stream_hits_the_idle_timeout(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="first words, then a long silence", chunk_size=6, chunk_delay=3))
    seen = Recorder()

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server, timeout_seconds=0.3).complete(MESSAGES, on_text=seen.on_text)

    assert caught.value.kind == "timeout"
    assert seen.shown == "first "
    assert len(llm_server.requests) == 1  # text was shown and there is no on_restart: not retried


# -- permanent errors --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rejected_key_is_an_auth_error_without_the_key(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="401"), Reply(text="never requested"))

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server).complete(MESSAGES)

    error = caught.value
    assert error.kind == "auth"
    assert error.status_code == 401
    assert error.attempts == 1
    assert "rejected the API key" in error.message and "OPENAI_API_KEY" in error.message
    assert SECRET_KEY not in str(error) and "sk-" not in str(error)
    assert len(llm_server.requests) == 1


@pytest.mark.asyncio
async def test_context_length_is_not_retried(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="context_length"), Reply(text="never requested"))

    with pytest.raises(LLMError) as caught:
        await make_client(llm_server).complete(MESSAGES)

    assert caught.value.kind == "context_length"
    assert caught.value.status_code == 400
    assert "too long for openai/scripted's context window" in caught.value.message
    assert len(llm_server.requests) == 1


@pytest.mark.asyncio
async def test_unknown_endpoint_is_not_found(llm_server: ScriptedLLM) -> None:
    settings = Settings(model="openai/scripted", api_base=llm_server.base_url + "/missing")

    with pytest.raises(LLMError) as caught:
        await LLMClient(settings).complete(MESSAGES)

    assert caught.value.kind == "not_found"
    assert caught.value.message.startswith("Model openai/scripted was not found at the provider (HTTP 404).")


@pytest.mark.asyncio
async def test_no_model_is_not_configured() -> None:
    with pytest.raises(LLMError) as caught:
        await LLMClient(Settings(model=None)).complete(MESSAGES)

    assert caught.value.kind == "not_configured"
    assert "OBOTO_MODEL" in caught.value.message


@pytest.mark.asyncio
async def test_exceptions_from_callbacks_are_not_retried_as_model_errors(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="some text"), Reply(text="never requested"))

    def broken_consumer(piece: str) -> None:
        raise ValueError("consumer bug")

    with pytest.raises(ValueError, match="consumer bug"):
        await make_client(llm_server).complete(MESSAGES, on_text=broken_consumer)
    assert len(llm_server.requests) == 1


# -- cancellation ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancelling_mid_stream_stops_promptly_and_hangs_up(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="x" * 400, chunk_size=2, chunk_delay=0.05))  # 10 s if read to the end
    seen = Recorder()
    task = asyncio.create_task(make_client(llm_server).complete(MESSAGES, on_text=seen.on_text))
    await async_wait_until(lambda: len(seen.pieces) >= 2)

    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert time.monotonic() - started < 1.0
    wait_until(lambda: llm_server.active_connections == 0, timeout=3)


# -- helpers -----------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    options = LLMSettings(backoff_initial_seconds=1.0, backoff_max_seconds=5.0)
    delays = [backoff_delay(retry, options) for retry in (1, 2, 3, 4)]
    assert 1.0 <= delays[0] <= 1.2
    assert 2.0 <= delays[1] <= 2.4
    assert 4.0 <= delays[2] <= 4.8
    assert delays[3] == 5.0
    assert backoff_delay(1, options, retry_after=3.0) == 3.0
    assert backoff_delay(1, options, retry_after=100.0) == 5.0


def test_secrets_are_scrubbed_from_provider_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plain-looking-value-42")
    text = scrub_secrets("bad key sk-abc123def456ghi, header Bearer tok3n, and plain-looking-value-42")
    assert "sk-abc" not in text and "tok3n" not in text and "plain-looking-value-42" not in text
    assert text.startswith("bad key [redacted]")


def test_classify_plain_connection_reset() -> None:
    error = classify_error(ConnectionResetError("reset by peer"), model="openai/x")
    assert (error.kind, error.transient, error.status_code) == ("connection", True, None)


def test_classify_a_connection_error_caused_by_a_read_timeout_as_timeout() -> None:
    try:
        try:
            raise TimeoutError("socket read")
        except TimeoutError:
            raise ConnectionError("Timeout on reading data from socket")  # noqa: B904 - implicit chaining is the point
    except ConnectionError as exc:
        assert classify_error(exc).kind == "timeout"


@pytest.mark.parametrize(("model", "variable"), [
    ("openai/gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ("gpt-4o-mini", "OPENAI_API_KEY"), ("groq/llama3", "GROQ_API_KEY"),
])
def test_api_key_variable_names_the_provider_key(model: str, variable: str) -> None:
    assert api_key_variable(model) == variable


# -- process-level guarantees ------------------------------------------------------------------


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "LITELLM_LOCAL_MODEL_COST_MAP"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, env=environment | env)


def test_importing_the_client_does_not_import_litellm() -> None:
    result = run_python("""
        import asyncio, sys
        import oboto.llm.client as client
        from oboto.core.config import Settings
        assert "litellm" not in sys.modules, "imported at import time"
        try:
            asyncio.run(client.LLMClient(Settings(model=None)).complete([]))
        except client.LLMError as error:
            assert error.kind == "not_configured"
        assert "litellm" not in sys.modules, "imported to report a missing model"
    """)
    assert result.returncode == 0, result.stderr


def test_a_completion_prints_nothing_and_logs_to_the_file(llm_server: ScriptedLLM, tmp_path: Path) -> None:
    """Import, a retried 429, a streamed reply and a 401 in a fresh process: stdout and stderr stay empty."""
    llm_server.add(Reply(fault="429"), Reply(text="hello"), Reply(fault="401"))
    log_path = tmp_path / "llm.log"
    result = run_python(f"""
        import asyncio
        from pathlib import Path
        from oboto.core.config import LLMSettings, Settings
        from oboto.llm.client import LLMClient, LLMError

        async def main():
            client = LLMClient(Settings(model="openai/scripted", api_base="{llm_server.base_url}",
                                        llm=LLMSettings(backoff_initial_seconds=0.01)), log_path=Path("{log_path}"))
            reply = await client.complete([{{"role": "user", "content": "hi"}}])
            assert reply.text == "hello" and reply.attempts == 2, reply
            try:
                await client.complete([{{"role": "user", "content": "hi"}}])
            except LLMError as error:
                assert error.kind == "auth"
            else:
                raise AssertionError("401 did not raise")

        asyncio.run(main())
    """, OPENAI_API_KEY=SECRET_KEY, LITELLM_LOG="DEBUG")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert len(llm_server.requests) == 3
    assert "LiteLLM" in log_path.read_text()


def test_library_loggers_only_write_to_oboto_handlers(tmp_path: Path) -> None:
    load_litellm()
    route_library_logs(tmp_path / "llm.log")
    try:
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            assert not logger.propagate
            assert [type(handler) for handler in logger.handlers] == [StateLogHandler]  # follows no link
    finally:
        route_library_logs(None)
