"""Tools: a pydantic argument model (which is also the JSON schema the model sees) and an async run."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from oboto.agent.tools.deps import Requirement, ToolDeps
from oboto.core.config import Settings
from oboto.core.errors import RequestRefused
from oboto.core.paths import WorkspacePaths

S = TypeVar("S")


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown arguments are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ToolError(Exception):
    """An expected failure of a tool; its message goes back to the model as the result."""


@dataclass
class ToolResult:
    ok: bool
    content: str
    data: dict[str, Any] | None = None

    @classmethod
    def success(cls, content: str, **data: Any) -> "ToolResult":
        return cls(True, content, data or None)

    @classmethod
    def error(cls, message: str) -> "ToolResult":
        return cls(False, f"Error: {message}")


@dataclass
class ToolContext:
    """Who is calling a tool, with what rights, and the services it may use."""

    paths: WorkspacePaths
    settings: Settings
    deps: ToolDeps = field(default_factory=ToolDeps)
    conversation: str | None = None
    task_id: str | None = None
    depth: int = 0
    background: bool = False
    read_only: bool = False
    """Read-only for the whole turn, whatever happens in the foreground."""
    busy_guard: Callable[[], bool] | None = None
    """Read-only whenever this returns True (the person's own turn is running); checked at every call."""
    origin: str = "foreground"
    extra: dict[str, Any] = field(default_factory=dict)

    def is_read_only(self) -> bool:
        return self.read_only or (self.busy_guard is not None and self.busy_guard())

    @property
    def read_only_reason(self) -> str:
        if self.read_only:
            return "this agent was started read-only"
        return "background agents are read-only while the person's own turn is running"

    def use(self, requirement: Requirement[S]) -> S:
        """A service the calling tool names in `requires` (the registry runs no tool whose service is missing)."""
        service = requirement.pick(self.deps)
        if service is None:
            raise LookupError(f"this context has no {requirement.title}; name it in the tool's `requires`")
        return service


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    writes: ClassVar[bool] = False
    """True when the tool changes the workspace or runs programs (refused in read-only mode)."""
    requires: ClassVar[tuple[Requirement[Any], ...]] = ()
    """The services the tool works through; where `ctx.deps` lacks one, the tool is neither offered nor run."""

    def unavailable_reason(self, ctx: ToolContext) -> str | None:
        """Why this tool cannot be used in `ctx`, or None when it can."""
        for requirement in self.requires:
            if requirement.pick(ctx.deps) is None:
                return f"{self.name} is not available here: this agent has no access to {requirement.title}"
        if self.writes and ctx.is_read_only():
            return f"{self.name} is not available right now: {ctx.read_only_reason}"
        return None

    @abstractmethod
    async def run(self, args: Any, ctx: ToolContext) -> ToolResult: ...

    def schema(self) -> dict[str, Any]:
        """The function schema the model sees (built once per tool class; treat it as read-only)."""
        return _schema_of(type(self))


@functools.cache
def _schema_of(tool: type[Tool]) -> dict[str, Any]:
    parameters = tool.Args.model_json_schema()
    parameters.pop("title", None)
    return {"type": "function", "function": {"name": tool.name, "description": tool.description, "parameters": parameters}}


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


class ToolRegistry:
    """The tools an agent may call; executing never raises into the app."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self, ctx: ToolContext) -> list[dict[str, Any]]:
        """Schemas of the tools usable in `ctx`: a read-only agent is not even offered the writing tools."""
        return [tool.schema() for tool in self._tools.values() if tool.unavailable_reason(ctx) is None]

    async def execute(self, name: str, raw_arguments: str | dict[str, Any] | None, ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return ToolResult.error(f"unknown tool {name!r}; available tools: {known}")
        reason = tool.unavailable_reason(ctx)
        if reason:
            return ToolResult.error(reason)
        try:
            if isinstance(raw_arguments, dict):
                payload = raw_arguments
            else:
                payload = orjson.loads(raw_arguments or "{}")
            if not isinstance(payload, dict):
                return ToolResult.error(f"arguments for {name} must be a JSON object")
            args = tool.Args.model_validate(payload)
        except orjson.JSONDecodeError as error:
            return ToolResult.error(f"arguments for {name} are not valid JSON ({error}); send a JSON object")
        except ValidationError as error:
            return ToolResult.error(f"invalid arguments for {name}: {describe_validation_error(error)}")
        try:
            return await tool.run(args, ctx)
        except (ToolError, RequestRefused) as error:
            return ToolResult.error(str(error))
        except Exception as error:  # a tool failure is the model's to handle, never the app's crash
            return ToolResult.error(f"{name} failed: {type(error).__name__}: {error}")
