"""The real embedded model (`local/smollm2`), loaded from the `local` extra, with the network unreachable.

Marked `local_model`: each test loads SmolLM2-135M through llama.cpp (once per test process) and generates
for real. The model is tiny, so the tests ask plainly and assert structure (a well-formed call, an answer,
the order of service), never the wording of a reply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from oboto.agent.tools.base import ToolRegistry
from oboto.agent.tools.files import ListFiles, ReadFile
from oboto.agent.turn import TurnObserver
from oboto.core.config import LLMSettings
from oboto.core.paths import WorkspacePaths
from oboto.llm import local
from oboto.llm.local import LocalEngine, LocalModelClient
from oboto.llm.resolve import LOCAL_MODEL, local_extra_installed

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(not local_extra_installed(), reason="needs the local extra: pip install -e '.[local]'"),
]

STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every connection except to loopback is refused; yields the addresses something tried to reach."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def loopback_only(address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # a Unix socket never leaves the machine
        try:
            return ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            return address[0] == "localhost"

    def connect(self: socket.socket, address: Any) -> None:
        if not loopback_only(address):
            attempts.append(address)
            raise OSError(101, "Network is unreachable (test)")
        real_connect(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        raise OSError(101, "Network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: connect(self, address) or 0)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield attempts


def test_the_network_really_is_unreachable(no_network: list[Any]) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with socket.socket() as probe, pytest.raises(OSError):
        probe.connect(("192.0.2.1", 443))
    assert len(no_network) == 2


class Recorder(TurnObserver):
    """Keeps what the turn streamed and which tools it called."""

    def __init__(self) -> None:
        self.replies: list[list[str]] = []
        self.calls: list[tuple[str, str]] = []

    def reply_started(self) -> None:
        self.replies.append([])

    def text_delta(self, delta: str) -> None:
        self.replies[-1].append(delta)

    def tool_started(self, call: Any) -> None:
        self.calls.append((call.name, call.arguments))


async def test_a_tool_using_turn_runs_offline_through_the_agent_loop(
    workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch, no_network: list[Any]
) -> None:
    """The person asks plainly; the model lists the files with a valid call, then answers, all streamed."""
    from oboto.services.runtime import Runtime

    monkeypatch.setenv("OBOTO_MODEL", LOCAL_MODEL)
    (workspace.root / "notes.txt").write_text("buy milk\n")
    (workspace.root / "todo.md").write_text("# Todo\n- ship it\n")
    runtime = Runtime.open(workspace.root)
    runtime.tools = ToolRegistry([ListFiles(), ReadFile()])
    recorder = Recorder()

    outcome = await runtime.chat(
        "chat", "Use list_files to see which files are in the workspace, then tell me their names.", observer=recorder)

    assert outcome.status == "completed", outcome.error
    name, arguments = recorder.calls[0]
    assert name == "list_files"
    ListFiles.Args.model_validate(orjson.loads(arguments))  # well-formed and valid for the tool
    assert outcome.final_text.strip()
    assert "".join(recorder.replies[-1]) == outcome.final_text, "the answer was streamed as it was generated"
    assert outcome.usage.prompt_tokens > 0 and outcome.usage.completion_tokens > 0
    assert outcome.usage.cost_usd == 0
    messages = runtime.conversations.messages("chat")
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls[0]["function"]["name"] == "list_files"
    assert messages[-1].content == outcome.final_text
    assert no_network == [], "nothing tried to reach the network"


async def test_plain_text_is_streamed_token_by_token(no_network: list[Any]) -> None:
    pieces: list[str] = []
    response = await LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=24)).complete(STORY, on_text=pieces.append)
    assert len(pieces) > 5 and "".join(pieces) == response.text
    assert response.finish_reason == "length" and response.usage.completion_tokens == 24
    assert response.tool_calls == []


class GenerationLog:
    """Wraps LocalEngine._generate to record, in order, what each request did on the worker thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entries: list[tuple[str, str, Any]] = []
        original = LocalEngine._generate

        def generate(engine: LocalEngine, request: Any) -> Any:
            label = request.messages[-1]["content"]
            self.entries.append(("start", label, None))
            result = original(engine, request)
            self.entries.append(("end", label, result))
            return result

        monkeypatch.setattr(LocalEngine, "_generate", generate)

    def finished(self, label: str) -> Any:
        return next(result for event, name, result in self.entries if event == "end" and name == label)


async def test_two_agents_at_once_are_served_one_after_the_other(monkeypatch: pytest.MonkeyPatch, no_network) -> None:
    log = GenerationLog(monkeypatch)
    client = LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=12))
    streamed: list[str] = []

    async def agent(name: str) -> Any:
        return await client.complete([{"role": "user", "content": f"Say hello to {name}."}],
                                     on_text=lambda piece: streamed.append(name))

    first, second = await asyncio.gather(agent("Ada"), agent("Bob"))

    assert first.text and second.text
    assert [(event, label) for event, label, _ in log.entries] == [
        ("start", "Say hello to Ada."), ("end", "Say hello to Ada."),
        ("start", "Say hello to Bob."), ("end", "Say hello to Bob."),
    ]
    assert streamed == sorted(streamed), "every piece of the first reply came before the second's"


async def test_cancelling_a_running_reply_stops_it_and_frees_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    log = GenerationLog(monkeypatch)
    client = LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=400))
    started = asyncio.Event()
    running = asyncio.create_task(client.complete(STORY, on_text=lambda piece: started.set()))
    await asyncio.wait_for(started.wait(), 60)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    after = await LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=4)).complete(
        [{"role": "user", "content": "Say hi."}])

    assert after.text
    cancelled = log.finished(STORY[0]["content"])
    assert cancelled.finish_reason == "cancelled" and cancelled.completion_tokens < 400


async def test_cancelling_a_waiting_reply_means_it_never_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    log = GenerationLog(monkeypatch)
    client = LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=40))
    started = asyncio.Event()
    running = asyncio.create_task(client.complete(STORY, on_text=lambda piece: started.set()))
    await asyncio.wait_for(started.wait(), 60)
    waiting = asyncio.create_task(client.complete([{"role": "user", "content": "Never mind."}]))
    await asyncio.sleep(0)  # let it reach the queue
    waiting.cancel()
    later = client.complete([{"role": "user", "content": "Say hi."}])

    results = await asyncio.gather(running, waiting, later, return_exceptions=True)

    assert results[0].text and isinstance(results[1], asyncio.CancelledError) and results[2].text
    assert [label for event, label, _ in log.entries if event == "start"] == [STORY[0]["content"], "Say hi."]


async def test_a_conversation_longer_than_the_context_still_gets_a_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest turns are dropped and a single oversized message is cut, so the prompt always fits."""
    # A 1024-token budget exercises the same trimming as 8192 without evaluating an 8000-token prompt.
    monkeypatch.setattr(local.shared_engine(LOCAL_MODEL), "context_tokens", 1024)
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are oboto."}]
    for turn in range(30):
        history += [{"role": "user", "content": f"Tell me about topic {turn}. " + "More detail please. " * 120},
                    {"role": "assistant", "content": "Here is what I know. " * 100}]
    history.append({"role": "user", "content": "Summarise this file:\n" + "lorem ipsum dolor " * 6000})
    client = LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=8))

    response = await client.complete(history)

    assert response.text
    assert 512 < response.usage.prompt_tokens <= 1024 - 8


def test_the_model_is_loaded_once_per_process() -> None:
    assert local.shared_engine(LOCAL_MODEL) is local.shared_engine(LOCAL_MODEL)
    engine = local.shared_engine(LOCAL_MODEL)
    assert engine.load() is engine.load()
