"""The scripted OpenAI-compatible server: wire format, reply sources, faults, the CLI and the polling helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from oboto.core.config import Settings
from oboto.testing import NO_SCRIPTED_REPLY, Reply, ScriptedLLM, ScriptedToolCall, async_wait_until, wait_until


def chat(server: ScriptedLLM, content: str = "hi", **extra: Any) -> httpx.Response:
    body = {"model": "scripted", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=5)


def stream_lines(server: ScriptedLLM, received: list[str], **extra: Any) -> None:
    """Append each line of one streamed request's body to `received` as it arrives."""
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": True, **extra}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        received.extend(response.iter_lines())


def stream_events(server: ScriptedLLM, **extra: Any) -> list[Any]:
    """The decoded `data:` payloads of one streamed request (`[DONE]` kept as a string)."""
    lines: list[str] = []
    stream_lines(server, lines, **extra)
    payloads = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return [payload if payload == "[DONE]" else json.loads(payload) for payload in payloads]


def test_non_streamed_completion_has_the_openai_shape(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="hello there", prompt_tokens=3, completion_tokens=2))

    body = chat(llm_server, "question").json()

    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hello there"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert llm_server.requests[0]["messages"] == [{"role": "user", "content": "question"}]


def test_streamed_text_comes_in_chunks_then_done(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="abcdefghij", chunk_size=4))

    events = stream_events(llm_server)

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:] if c["choices"][0]["delta"].get("content")]
    assert pieces == ["abcd", "efgh", "ij"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in chunk for chunk in chunks)  # no usage chunk unless asked for


def test_streamed_tool_calls_split_arguments_and_report_usage(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(tool_calls=[ScriptedToolCall("read_file", {"path": "a.txt"}),
                                     ScriptedToolCall("list_files", {})],
                         chunk_size=5, prompt_tokens=9, completion_tokens=4))

    events = stream_events(llm_server, stream_options={"include_usage": True})

    deltas = [call for event in events[:-1] if event["choices"]
              for call in event["choices"][0]["delta"].get("tool_calls", [])]
    openings = [call for call in deltas if "id" in call]
    assert [(call["index"], call["function"]["name"]) for call in openings] == [(0, "read_file"), (1, "list_files")]
    first_arguments = [call["function"]["arguments"] for call in deltas if call["index"] == 0]
    assert len([piece for piece in first_arguments if piece]) > 1
    assert json.loads("".join(first_arguments)) == {"path": "a.txt"}
    assert events[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-2]["choices"] == []
    assert events[-2]["usage"] == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def test_replies_come_from_fifo_then_handler_then_default() -> None:
    with ScriptedLLM([Reply(text="queued")], default=Reply(text="default")) as server:
        server.respond_with(lambda request: Reply(text="handled") if request["messages"][0]["content"] == "h" else None)
        texts = [chat(server, content).json()["choices"][0]["message"]["content"] for content in ("h", "h", "x")]
        server.add(Reply(text="added later"))
        texts.append(chat(server, "h").json()["choices"][0]["message"]["content"])
    assert texts == ["queued", "handled", "default", "added later"]
    assert [request["messages"][0]["content"] for request in server.requests] == ["h", "h", "x", "h"]


def test_callable_default_and_the_no_script_fallback() -> None:
    with ScriptedLLM(default=lambda request: Reply(text=f"echo {request['messages'][0]['content']}")) as server:
        assert chat(server, "ping").json()["choices"][0]["message"]["content"] == "echo ping"
    with ScriptedLLM() as server:
        assert chat(server).json()["choices"][0]["message"]["content"] == NO_SCRIPTED_REPLY


@pytest.mark.parametrize(("fault", "status", "error_type", "code"), [
    ("429", 429, "rate_limit_error", "rate_limit_exceeded"),
    ("500", 500, "server_error", None),
    ("503", 503, "server_error", "service_unavailable"),
    ("401", 401, "invalid_request_error", "invalid_api_key"),
    ("context_length", 400, "invalid_request_error", "context_length_exceeded"),
])
def test_error_faults_answer_like_openai(
    llm_server: ScriptedLLM, fault: str, status: int, error_type: str, code: str | None
) -> None:
    llm_server.add(Reply(fault=fault), Reply(text="after the fault"))

    response = chat(llm_server)

    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert response.json()["error"]["code"] == code
    assert chat(llm_server).json()["choices"][0]["message"]["content"] == "after the fault"


def test_context_length_fault_names_the_limit(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="context_length"))
    assert "maximum context length is" in chat(llm_server).json()["error"]["message"]


def test_retry_after_header_is_sent_when_scripted(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="429", retry_after=2))
    assert chat(llm_server).headers["retry-after"] == "2"


def test_drop_closes_without_an_answer(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        chat(llm_server)
    assert len(llm_server.requests) == 1


def test_drop_midstream_cuts_a_stream_after_some_chunks(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="drop_midstream", text="a fairly long reply", chunk_size=3))
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        stream_lines(llm_server, received)
    assert any("content" in line for line in received)
    assert "data: [DONE]" not in received


def test_drop_midstream_cuts_a_plain_response(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="drop_midstream", text="cut"))
    with pytest.raises(httpx.RemoteProtocolError):
        chat(llm_server)


def test_slow_reply_waits_and_stop_does_not(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(fault="slow", delay=0.3, text="late"))
    started = time.monotonic()
    assert chat(llm_server).json()["choices"][0]["message"]["content"] == "late"
    assert time.monotonic() - started >= 0.3

    server = ScriptedLLM([Reply(fault="slow")]).start()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/chat/completions", json={"messages": []}, timeout=0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0  # the 30 s hang is cut off


def test_models_endpoint_and_keep_alive(llm_server: ScriptedLLM) -> None:
    llm_server.add(Reply(text="one"), Reply(text="two"))
    with httpx.Client(base_url=llm_server.base_url, timeout=5) as client:
        assert client.get("/models").json()["data"][0]["id"] == "scripted"
        texts = [client.post("/chat/completions", json={"messages": []}).json()["choices"][0]["message"]["content"]
                 for _ in range(2)]
        assert client.post("/nowhere", json={}).status_code == 404
    assert texts == ["one", "two"]


def test_wait_for_requests(llm_server: ScriptedLLM) -> None:
    with pytest.raises(TimeoutError):
        llm_server.wait_for_requests(1, timeout=0.05)
    threading.Thread(target=chat, args=(llm_server,), daemon=True).start()
    llm_server.wait_for_requests(1, timeout=5)
    assert len(llm_server.requests) == 1


def test_command_line_serves_a_script_until_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "from the script"},
                                  {"tool_calls": [{"name": "list_files", "arguments": {}}]}]))
    process = subprocess.Popen([sys.executable, "-m", "oboto.testing", "--port", "0", "--script", str(script)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1")
        base_url = line.removeprefix("listening on ")
        first = httpx.post(f"{base_url}/chat/completions", json={"messages": []}, timeout=5).json()
        second = httpx.post(f"{base_url}/chat/completions", json={"messages": []}, timeout=5).json()
        assert first["choices"][0]["message"]["content"] == "from the script"
        assert second["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "list_files"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_llm_env_configures_oboto_for_the_server(llm_env: ScriptedLLM) -> None:
    settings = Settings()
    assert settings.model == "openai/scripted"
    assert settings.api_base == llm_env.base_url
    assert (settings.llm.backoff_initial_seconds, settings.llm.backoff_max_seconds) == (0.01, 0.05)
    assert os.environ["OPENAI_API_KEY"] == "test-key"


def test_wait_until_returns_the_value_or_times_out() -> None:
    deadline = time.monotonic() + 0.05
    assert wait_until(lambda: time.monotonic() > deadline and "done", timeout=2) == "done"
    with pytest.raises(TimeoutError):
        wait_until(lambda: False, timeout=0.05)


@pytest.mark.asyncio
async def test_async_wait_until_accepts_sync_and_async_predicates() -> None:
    calls: list[int] = []

    async def third_call() -> bool:
        calls.append(1)
        return len(calls) >= 3

    assert await async_wait_until(third_call, timeout=2) is True
    assert await async_wait_until(lambda: 42) == 42
    with pytest.raises(TimeoutError):
        await async_wait_until(lambda: None, timeout=0.05)
