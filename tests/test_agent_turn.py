"""The tool loop on its own: final answers, tool results fed back, limits, the repeat breaker, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolRegistry, ToolResult
from oboto.agent.turn import TurnLimits, TurnObserver, run_turn
from oboto.llm.types import LLMError, ToolCallRequest
from oboto.testing import FakeModel
from oboto.testing.fake_model import answer, calling, tool_call


class Echo(Tool):
    name = "echo"
    description = "echo the text"

    class Args(ToolArgs):
        text: str

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.calls.append(args.text)
        return ToolResult.success(f"echo: {args.text}")


class Slow(Tool):
    name = "slow"
    description = "takes a while"

    class Args(ToolArgs):
        pass

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished = False

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.started.set()
        await asyncio.sleep(30)
        self.finished = True
        return ToolResult.success("done")


@pytest.fixture
def ctx(workspace, settings) -> ToolContext:
    return ToolContext(paths=workspace, settings=settings)


async def test_tool_results_are_fed_back_until_a_final_answer(ctx: ToolContext) -> None:
    echo = Echo()
    model = FakeModel([calling(tool_call("echo", '{"text": "a"}')), answer("all done")])
    messages = [{"role": "user", "content": "go"}]
    outcome = await run_turn(model, ToolRegistry([echo]), ctx, messages, TurnLimits())
    assert outcome.status == "completed" and outcome.final_text == "all done"
    assert echo.calls == ["a"]
    assert model.seen[1][-1] == {"role": "tool", "tool_call_id": "c1", "name": "echo", "content": "echo: a"}
    assert outcome.usage.total_tokens == 30 and outcome.iterations == 2 and outcome.tool_calls == 1


async def test_bad_arguments_and_unknown_tools_become_error_results(ctx: ToolContext) -> None:
    model = FakeModel([
        calling(tool_call("echo", '{"text": 5', "c1"), tool_call("nope", "{}", "c2"),
                tool_call("echo", '{"txt": "x"}', "c3")),
        answer("ok"),
    ])
    outcome = await run_turn(model, ToolRegistry([Echo()]), ctx, [{"role": "user", "content": "go"}], TurnLimits())
    results = [message["content"] for message in model.seen[1] if message["role"] == "tool"]
    assert "not valid JSON" in results[0]
    assert "unknown tool 'nope'" in results[1] and "echo" in results[1]
    assert "text: Field required" in results[2] and "txt: Extra inputs are not permitted" in results[2]
    assert outcome.ok


async def test_iteration_cap_stops_the_turn(ctx: ToolContext) -> None:
    replies = [calling(tool_call("echo", f'{{"text": "{index}"}}', f"c{index}")) for index in range(5)]
    echo = Echo()
    outcome = await run_turn(FakeModel(replies), ToolRegistry([echo]), ctx, [], TurnLimits(max_iterations=3))
    assert outcome.status == "max_iterations" and outcome.iterations == 3
    assert echo.calls == ["0", "1", "2"]


async def test_token_budget_stops_the_turn_without_running_more_tools(ctx: ToolContext) -> None:
    echo = Echo()
    model = FakeModel([calling(tool_call("echo", '{"text": "a"}'), tokens=800),
                       calling(tool_call("echo", '{"text": "b"}', "c2"), tokens=800)])
    messages: list[dict] = []
    outcome = await run_turn(model, ToolRegistry([echo]), ctx, messages, TurnLimits(token_budget=2000))
    assert outcome.status == "budget_exceeded" and "3200 tokens" in (outcome.error or "")
    assert echo.calls == ["a"]
    assert messages[-1]["role"] == "tool" and messages[-1]["content"].startswith("Not run")


async def test_repeated_identical_calls_are_broken(ctx: ToolContext) -> None:
    echo = Echo()
    same = '{"text": "again"}'
    reordered = '{ "text" : "again" }'
    model = FakeModel([calling(tool_call("echo", same if index % 2 else reordered, f"c{index}")) for index in range(6)])
    outcome = await run_turn(model, ToolRegistry([echo]), ctx, [], TurnLimits(repeat_limit=3))
    assert outcome.status == "repeated_calls"
    assert echo.calls == ["again", "again"], "the third identical call is not run, the fourth stops the turn"
    warning = [m for m in model.seen[3] if m["role"] == "tool"][-1]["content"]
    assert "3 times in a row" in warning


async def test_model_failure_ends_the_turn_with_a_plain_message(ctx: ToolContext) -> None:
    model = FakeModel([LLMError("auth", "The model provider rejected the API key (check OPENAI_API_KEY).")])
    outcome = await run_turn(model, ToolRegistry([]), ctx, [], TurnLimits())
    assert outcome.status == "failed" and "OPENAI_API_KEY" in (outcome.error or "")


async def test_cancel_stops_the_running_tool_and_starts_no_other(ctx: ToolContext) -> None:
    slow, echo = Slow(), Echo()
    model = FakeModel([calling(tool_call("slow", "{}", "c1"), tool_call("echo", '{"text": "after"}', "c2")), answer("x")])
    task = asyncio.create_task(run_turn(model, ToolRegistry([slow, echo]), ctx, [], TurnLimits()))
    await asyncio.wait_for(slow.started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not slow.finished and echo.calls == []
    assert len(model.seen) == 1


async def test_read_only_context_hides_and_refuses_writing_tools(ctx: ToolContext) -> None:
    class Writer(Echo):
        name = "writer"
        writes = True

    writer = Writer()
    ctx.read_only = True
    registry = ToolRegistry([Echo(), writer])
    assert [schema["function"]["name"] for schema in registry.schemas(ctx)] == ["echo"]
    model = FakeModel([calling(tool_call("writer", '{"text": "x"}')), answer("fine")])
    await run_turn(model, registry, ctx, [], TurnLimits())
    assert [schema["function"]["name"] for schema in model.requests[0].tools or []] == ["echo"]
    refusal = [m for m in model.seen[1] if m["role"] == "tool"][0]["content"]
    assert "not available right now" in refusal and writer.calls == []


async def test_observer_sees_text_and_tools(ctx: ToolContext) -> None:
    seen: list[str] = []

    class Recorder(TurnObserver):
        def text_delta(self, delta: str) -> None:
            seen.append(f"text:{delta}")

        def tool_started(self, call: ToolCallRequest) -> None:
            seen.append(f"start:{call.name}")

        def tool_finished(self, call, result, duration_ms) -> None:
            seen.append(f"done:{call.name}:{result.ok}")

    model = FakeModel([calling(tool_call("echo", '{"text": "a"}')), answer("bye")])
    await run_turn(model, ToolRegistry([Echo()]), ctx, [], TurnLimits(), Recorder())
    assert seen == ["start:echo", "done:echo:True", "text:bye"]
