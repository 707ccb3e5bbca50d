"""Tools of MCP servers, offered as `mcp__<server>__<tool>` with the server's own JSON schema.

The servers themselves (processes, connections, restarts) belong to `services.mcp`; a tool here only holds its
schema and asks an `McpCaller` to run the call. Every MCP tool is of the `exec` tier: it runs someone else's
program, so the permission mode asks before it unless a rule allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from oboto.agent.tools.base import Tool, ToolContext, ToolError, ToolResult

TOOL_NAME_LIMIT = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def mcp_tool_name(server: str, tool: str) -> str:
    """The name the model sees; characters providers refuse in tool names become `_`."""
    return _UNSAFE.sub("_", f"mcp__{server}__{tool}")


@dataclass(frozen=True)
class McpCallResult:
    """What an MCP tool call returned, as text for the model."""

    text: str
    is_error: bool = False


class McpCaller(Protocol):
    """Runs one call on a named server (the services' MCP hub)."""

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any]) -> McpCallResult: ...


class McpArguments(BaseModel):
    """Whatever the server's schema allows; checked against that schema in `McpTool.parse_arguments`."""

    model_config = ConfigDict(extra="allow")


class McpTool(Tool):
    """One tool of one MCP server."""

    Args = McpArguments
    tier = "exec"

    def __init__(self, server: str, tool: str, description: str, parameters: dict[str, Any], caller: McpCaller) -> None:
        self.name = mcp_tool_name(server, tool)  # type: ignore[misc]  # each instance is a different tool
        self.description = f"[MCP server {server}] {description or tool}"  # type: ignore[misc]
        self.server = server
        self.tool = tool
        self.parameters = parameters
        self.caller = caller
        from jsonschema.validators import validator_for

        self._validator = validator_for(parameters)(parameters)

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def parse_arguments(self, payload: dict[str, Any]) -> dict[str, Any]:
        errors = sorted(self._validator.iter_errors(payload), key=lambda error: list(error.path))
        if errors:
            problems = []
            for error in errors[:5]:
                where = ".".join(str(part) for part in error.path) or "arguments"
                problems.append(f"{where}: {error.message}")
            raise ToolError("; ".join(problems))
        return payload

    def subject(self, args: Any, ctx: ToolContext) -> tuple[str | None, list[str]]:
        return None, []

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        result = await self.caller.call_tool(self.server, self.tool, args)
        if result.is_error:
            return ToolResult.error(f"{self.name}: {result.text}")
        return ToolResult.success(result.text or "(the tool returned nothing)", server=self.server)


def schema_problem(parameters: object) -> str | None:
    """Why a server's input schema cannot be offered to a model, or None when it can."""
    if not isinstance(parameters, dict):
        return "its input schema is not a JSON object"
    if parameters.get("type") != "object":
        return "its input schema does not describe an object of arguments"
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(parameters).check_schema(parameters)
    except SchemaError as error:
        return f"its input schema is not valid JSON Schema ({error.message})"
    return None
