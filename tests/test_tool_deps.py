"""Tools reach services only through the Protocols in agent.tools.deps; a missing service is one clear refusal."""

from __future__ import annotations

from typing import Any

import pytest

from oboto.agent.tools.base import Tool, ToolArgs, ToolContext, ToolRegistry, ToolResult
from oboto.agent.tools.deps import TASKS, Conversations, Memory, Questions, Schedules, Tasks, ToolDeps
from oboto.services.runtime import Runtime, build_tool_registry
from oboto.testing import FakeModel
from oboto.testing.fake_model import answer, calling, tool_call


class CountTasks(Tool):
    name = "count_tasks"
    description = "count the background tasks"
    requires = (TASKS,)

    class Args(ToolArgs):
        pass

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.runs += 1
        return ToolResult.success(str(len(ctx.use(TASKS).list())))


class FakeTasks:
    """Has just the shape a tool needs of background tasks, and no Runtime behind it."""

    def list(self, status: str | None = None) -> list[Any]:
        return ["t-1", "t-2"]


async def test_a_tool_whose_service_is_missing_is_neither_offered_nor_run(workspace, settings) -> None:
    tool = CountTasks()
    registry = ToolRegistry([tool])
    bare = ToolContext(paths=workspace, settings=settings)
    assert registry.schemas(bare) == []
    result = await registry.execute("count_tasks", {}, bare)
    assert not result.ok and tool.runs == 0
    assert result.content == "Error: count_tasks is not available here: this agent has no access to background tasks"


async def test_a_tool_works_with_anything_of_the_service_shape(workspace, settings) -> None:
    registry = ToolRegistry([CountTasks()])
    ctx = ToolContext(paths=workspace, settings=settings, deps=ToolDeps(tasks=FakeTasks()))  # type: ignore[arg-type]
    assert [schema["function"]["name"] for schema in registry.schemas(ctx)] == ["count_tasks"]
    result = await registry.execute("count_tasks", {}, ctx)
    assert result.ok and result.content == "2"


async def test_using_an_undeclared_service_fails_loudly(workspace, settings) -> None:
    class Sneaky(CountTasks):
        name = "sneaky"
        requires = ()

    result = await ToolRegistry([Sneaky()]).execute("sneaky", {}, ToolContext(paths=workspace, settings=settings))
    assert not result.ok and "LookupError" in result.content and "`requires`" in result.content


@pytest.mark.parametrize(("attribute", "protocol"), [
    ("tasks", Tasks), ("schedules", Schedules), ("memory", Memory), ("questions", Questions),
    ("conversations", Conversations),
])
def test_the_runtime_fills_every_service_with_one_of_the_protocols_shape(runtime: Runtime, attribute: str,
                                                                           protocol: type) -> None:
    service = getattr(runtime.tool_context().deps, attribute)
    assert isinstance(service, protocol)


def test_a_background_agent_of_the_runtime_is_offered_every_tool_that_needs_a_service(runtime: Runtime) -> None:
    registry = build_tool_registry()
    ctx = runtime.tool_context(conversation="chat", task_id="t-12345678", background=True)
    offered = {schema["function"]["name"] for schema in registry.schemas(ctx)}
    needing = {name for name in registry.names if (tool := registry.get(name)) and tool.requires}
    assert len(needing) == 17 and needing <= offered


def test_a_bare_context_is_offered_only_the_tools_that_need_no_service(workspace, settings) -> None:
    registry = build_tool_registry()
    bare = ToolContext(paths=workspace, settings=settings)
    offered = {schema["function"]["name"] for schema in registry.schemas(bare)}
    assert offered == {"read_file", "write_file", "edit_file", "list_files", "search_files", "run_command"}


async def test_a_task_agent_reaches_a_service_through_its_tool(workspace, settings) -> None:
    """End to end with the in-process model: the task's agent creates a schedule through its tool."""
    model = FakeModel([
        calling(tool_call("create_recurring_task", '{"name": "tidy", "query": "tidy up", "interval_seconds": "1h"}')),
        answer("scheduled"),
    ])
    runtime = Runtime(workspace, settings, llm=model)
    runtime.activate_runner()
    try:
        record = runtime.tasks.spawn("plan", "schedule a tidy-up")
        done = await runtime.tasks.wait(record.id, 10)
    finally:
        await runtime.deactivate_runner("the test finished")
    assert done.status == "completed" and done.result == "scheduled"
    [schedule] = runtime.scheduler.list()
    assert schedule.name == "tidy" and schedule.interval_seconds == 3600
    result = model.requests[1].messages[-1]
    assert result["role"] == "tool" and result["content"].startswith(f"Created {schedule.id} [active] tidy")
