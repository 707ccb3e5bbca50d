"""Tools: a pydantic argument model (which is also the JSON schema the model sees) and an async run."""

from __future__ import annotations

import asyncio
import functools
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from oboto.agent.approvals import ApprovalRequest, CallControl, gate_call
from oboto.agent.changes import ChangeScope, current_tool_call
from oboto.agent.profiles import AgentProfile
from oboto.agent.tools.deps import Requirement, ToolDeps
from oboto.core.audit import AuditEntry, AuditLog, audit_arguments
from oboto.core.config import Settings
from oboto.core.errors import RequestRefused
from oboto.core.paths import WorkspacePaths
from oboto.core.permissions import Tier
from oboto.core.quarantine import DamagedState
from oboto.core.redact import Redactor

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
    note: str | None = None
    """A fact the audit log keeps besides the outcome (e.g. settings a command changed were put back)."""

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
    schedule_id: str | None = None
    control: CallControl | None = None
    """The permission policy and who answers its asks; None: the workspace's settings, with nobody to ask."""
    audit: AuditLog | None = None
    changes: ChangeScope | None = None
    """The checkpointed change this turn runs inside; tools report the files they write into it."""
    profile: AgentProfile | None = None
    """The agent profile this agent runs as: its prompt, its tool allowlist and its limits (None: no profile)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.control is None:
            self.control = CallControl(self.settings.permissions.policy())

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
    tier: ClassVar[Tier] = "read"
    """The risk the permission mode and rules weigh: read, write (files or oboto's state) or exec (programs)."""
    writes: ClassVar[bool] = False
    """Withheld from read-only agents (started read-only, or background while the person is busy); by default
    every tool above the read tier."""
    requires: ClassVar[tuple[Requirement[Any], ...]] = ()
    """The services the tool works through; where `ctx.deps` lacks one, the tool is neither offered nor run."""

    def unavailable_reason(self, ctx: ToolContext) -> str | None:
        """Why this tool cannot be used in `ctx`, or None when it can."""
        if ctx.profile is not None and not ctx.profile.allows(self.name):
            return f"{self.name} is not available here: it is not one of the tools of the {ctx.profile.name} agent"
        for requirement in self.requires:
            if requirement.pick(ctx.deps) is None:
                return f"{self.name} is not available here: this agent has no access to {requirement.title}"
        if self.writes and ctx.is_read_only():
            return f"{self.name} is not available right now: {ctx.read_only_reason}"
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "writes" not in cls.__dict__ and "tier" in cls.__dict__:
            cls.writes = cls.tier != "read"

    @abstractmethod
    async def run(self, args: Any, ctx: ToolContext) -> ToolResult: ...

    def parse_arguments(self, payload: dict[str, Any]) -> Any:
        """The validated arguments (a ValidationError, or a ToolError, says what is wrong with them)."""
        return self.Args.model_validate(payload)

    def subject(self, args: Any, ctx: ToolContext) -> tuple[str | None, list[str]]:
        """What permission rules match for this call (a command line, a workspace path) and other names of it."""
        return None, []

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        """What the call would change, shown when the person is asked (the diff of an edit); None if nothing."""
        return None

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


class ToolSource(Protocol):
    """Tools that come and go while the process runs (an MCP server's); loaded before each turn."""

    async def load_tools(self) -> tuple[list[Tool], list[str]]:
        """The tools available now, and in plain words what is not (a server that did not start, say)."""
        ...


class ToolRegistry:
    """The tools an agent may call; executing never raises into the app."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._static: dict[str, Tool] = {}
        self._tools: dict[str, Tool] = {}
        self._sources: list[ToolSource] = []
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._static:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self._static[tool.name] = tool
        self._tools = {**self._tools, tool.name: tool}

    def add_source(self, source: ToolSource) -> None:
        self._sources.append(source)

    async def prepare(self) -> list[str]:
        """Load the tools of every source (starting what must start); returns what is unavailable and why."""
        if not self._sources:
            return []
        tools = dict(self._static)
        problems: list[str] = []
        for source in self._sources:
            loaded, missing = await source.load_tools()
            problems += missing
            for tool in loaded:
                tools.setdefault(tool.name, tool)
        self._tools = tools  # replaced whole: a turn reading it meanwhile sees the old set or the new one
        return problems

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self, ctx: ToolContext) -> list[dict[str, Any]]:
        """Schemas of the tools usable in `ctx`: a read-only agent, a profile's allowlist, or read-only mode
        hides the others."""
        policy = ctx.control.policy if ctx.control else None
        return [tool.schema() for tool in self._tools.values()
                if tool.unavailable_reason(ctx) is None and (policy is None or policy.offers(tool.tier))]

    async def execute(self, name: str, raw_arguments: str | dict[str, Any] | None, ctx: ToolContext,
                      *, call_id: str | None = None) -> ToolResult:
        """Validate, check permissions (asking when the policy says so), run, and write it all to the audit log."""
        started = time.perf_counter()
        call = _AuditedCall(name, ctx, started)
        try:
            result = _redacted(await self._execute(name, raw_arguments, ctx, call, call_id), ctx.settings)
        except asyncio.CancelledError:
            # Written in a thread (the entry is fsynced), not waited for: cancellation propagates at once.
            asyncio.get_running_loop().run_in_executor(None, call.write, "cancelled", None)
            raise
        await asyncio.to_thread(call.write, "ok" if result.ok else call.outcome or "error",
                                None if result.ok else result.content, result.note)
        return result

    async def _execute(self, name: str, raw_arguments: str | dict[str, Any] | None, ctx: ToolContext,
                       call: "_AuditedCall", call_id: str | None) -> ToolResult:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return call.refuse("unknown tool", ToolResult.error(f"unknown tool {name!r}; available tools: {known}"))
        call.tier = tool.tier
        call.arguments = raw_arguments
        reason = tool.unavailable_reason(ctx)
        if reason:
            return call.refuse(reason.split(": ", 1)[-1], ToolResult.error(reason))
        try:
            if isinstance(raw_arguments, dict):
                payload = raw_arguments
            else:
                payload = orjson.loads(raw_arguments or "{}")
            if not isinstance(payload, dict):
                return ToolResult.error(f"arguments for {name} must be a JSON object")
            call.arguments = payload
            args = tool.parse_arguments(payload)
        except ToolError as error:
            return ToolResult.error(f"invalid arguments for {name}: {error}")
        except orjson.JSONDecodeError as error:
            return ToolResult.error(f"arguments for {name} are not valid JSON ({error}); send a JSON object")
        except ValidationError as error:
            return ToolResult.error(f"invalid arguments for {name}: {describe_validation_error(error)}")
        if not await call.permitted(tool, args, ctx):
            return ToolResult.error(call.refusal or "refused")
        token = current_tool_call.set(call_id)
        try:
            if tool.writes and ctx.changes is not None:
                await ctx.changes.ready()
            if tool.tier == "exec" and ctx.changes is not None:
                # What a program changes only a checkpoint can see: each call gets its own, nested change.
                async with ctx.changes.around_program(call_id, tool.name):
                    return await tool.run(args, ctx)
            return await tool.run(args, ctx)
        except (ToolError, RequestRefused, DamagedState) as error:
            return ToolResult.error(str(error))
        except Exception as error:  # a tool failure is the model's to handle, never the app's crash
            return ToolResult.error(f"{name} failed: {type(error).__name__}: {error}")
        finally:
            current_tool_call.reset(token)


def _redacted(result: ToolResult, settings: Settings) -> ToolResult:
    """The one point every tool result passes before it is audited, persisted, shown or sent to a model."""
    redactor = Redactor.from_environment(extra_names=settings.security.redact_env)
    if not redactor:
        return result
    note = redactor.text(result.note) if result.note else None
    return ToolResult(result.ok, redactor.text(result.content), redactor.data(result.data), note)


class _AuditedCall:
    """One call on its way through the registry: the permission decision, then one audit entry at the end."""

    def __init__(self, name: str, ctx: ToolContext, started: float) -> None:
        self.name = name
        self.ctx = ctx
        self.started = started
        self.tier: Tier = "exec"
        self.arguments: Any = None
        self.decision = "invalid"
        self.reason = "the call was not valid, so no permission was checked"
        self.outcome: str | None = None
        self.refusal: str | None = None

    def refuse(self, reason: str, result: ToolResult) -> ToolResult:
        self.decision, self.reason, self.outcome = "deny", reason, "refused"
        return result

    async def permitted(self, tool: Tool, args: Any, ctx: ToolContext) -> bool:
        assert ctx.control is not None
        subject, aliases = tool.subject(args, ctx)
        request = ApprovalRequest(tool=tool.name, tier=tool.tier, arguments=self.arguments, subject=subject,
                                  why="", aliases=aliases, conversation=ctx.conversation, task_id=ctx.task_id,
                                  origin=ctx.origin)
        verdict = await gate_call(ctx.control, request, preview=lambda: tool.preview(args, ctx))
        self.decision, self.reason = verdict.decision, verdict.reason
        if not verdict.allowed:
            self.outcome, self.refusal = "refused", verdict.refusal
        return verdict.allowed

    def write(self, outcome: str, error: str | None, note: str | None = None) -> None:
        if self.ctx.audit is None:
            return
        entry = AuditEntry(
            tool=self.name, tier=self.tier, decision=self.decision, reason=self.reason,
            arguments=audit_arguments(self.arguments), outcome=outcome,
            duration_ms=(time.perf_counter() - self.started) * 1000, conversation=self.ctx.conversation,
            task_id=self.ctx.task_id, schedule_id=self.ctx.schedule_id, origin=self.ctx.origin,
            error=error[:300] if error else None, note=note,
        )
        try:
            self.ctx.audit.write(entry)
        except OSError as failure:  # a full disk must not turn a finished call into a crash
            self.ctx.extra.setdefault("audit_errors", []).append(str(failure))
