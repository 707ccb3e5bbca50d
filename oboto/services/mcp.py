"""MCP servers (`[mcp.servers.NAME]`): started on first use, shared by the process's agents, restarted once after
a crash, stopped on exit. Their tools reach agents as `mcp__<server>__<tool>` through the tool registry.

Each connection lives in a task of its own, because the SDK's client must be entered and left in one task; calls
from any turn go through it. A server that does not start, or has a tool whose schema is unusable, costs the
turn only those tools: `load_tools` says in plain words what is missing, and the model is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from oboto.agent.tools.base import Tool
from oboto.agent.tools.mcp import TOOL_NAME_LIMIT, McpCallResult, McpTool, mcp_tool_name, schema_problem
from oboto.core.config import McpServerSettings, McpSettings
from oboto.core.log_files import open_log
from oboto.core.paths import WorkspacePaths
from oboto.core.text import cut_middle

ServerState = Literal["disabled", "not started", "starting", "ready", "crashed", "failed", "stopped"]
MAX_RESTARTS = 1
STOP_SECONDS = 10.0


@dataclass
class McpToolInfo:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass
class ServerStatus:
    """One server as `oboto mcp list` and the doctor show it."""

    name: str
    transport: str
    state: str
    error: str | None = None
    tools: list[str] = field(default_factory=list)
    skipped_tools: list[str] = field(default_factory=list)
    """Tools left out, each with why (an unusable schema, not on the allowlist, a name clash)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "state": self.state, "error": self.error,
                "tools": self.tools, "skipped_tools": self.skipped_tools}


class McpServer:
    """One configured server and its connection (at most one at a time)."""

    def __init__(self, name: str, config: McpServerSettings, settings: McpSettings, paths: WorkspacePaths) -> None:
        self.name = name
        self.config = config
        self.settings = settings
        self.paths = paths
        self.state: ServerState = "not started" if config.enabled else "disabled"
        self.error: str | None = None
        self.tools: list[McpToolInfo] = []
        self.restarts = 0
        self._client: Any = None
        self._serving: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def transport(self) -> str:
        return "http" if self.config.url else "stdio"

    @property
    def log_path(self) -> Path:
        return self.paths.logs_dir / f"mcp-{self.name}.log"

    # ----- lifecycle -----------------------------------------------------------------------

    async def ensure_started(self) -> bool:
        """Start the server unless it runs (or may not run any more); True when it is ready."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (another asyncio.run): the old connection is gone with it
            self._loop, self._lock, self._client, self._serving = loop, asyncio.Lock(), None, None
            if self.state in ("ready", "starting"):
                self.state = "not started"
        assert self._lock is not None
        async with self._lock:
            if self.state == "ready":
                return True
            if self.state in ("disabled", "failed"):
                return False
            if self.state == "crashed":
                if self.restarts >= MAX_RESTARTS:
                    self.state = "failed"
                    self.error = f"{self.error}; it was restarted once already, so it is left off until oboto restarts"
                    return False
                self.restarts += 1
            await self._start()
            return self.state == "ready"

    async def _start(self) -> None:
        self.state, self.error = "starting", None
        ready: asyncio.Future[list[McpToolInfo]] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._serving = asyncio.get_running_loop().create_task(self._serve(ready, self._stop),
                                                               name=f"oboto-mcp-{self.name}")
        limit = self.settings.startup_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                self.tools = await asyncio.shield(ready)
        except TimeoutError:
            await self._halt()
            self.state, self.error = "failed", f"did not start within {limit:g} s (mcp.startup_timeout_seconds)"
            return
        except Exception as failure:
            await self._halt()
            self.state, self.error = "failed", describe_failure(failure, self)
            return
        self.state = "ready"

    async def _serve(self, ready: asyncio.Future[list[McpToolInfo]], stop: asyncio.Event) -> None:
        """Hold the connection open until asked to stop; the SDK's client is entered and left in this task."""
        from mcp import Client

        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(Client(self._transport(stack), cache=None))
                tools = await _list_all_tools(client)
                self._client = client
                ready.set_result(tools)
                await stop.wait()
        except BaseException as failure:  # noqa: BLE001 - whatever ends the connection is reported, not raised
            if not ready.done():
                ready.set_exception(failure if isinstance(failure, Exception) else RuntimeError(str(failure)))
            if isinstance(failure, asyncio.CancelledError):
                raise
        finally:
            self._client = None

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        if self.config.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=self.config.headers or None)
            stack.push_async_callback(http.aclose)
            return streamable_http_client(self.config.url, http_client=http)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        cwd = self.paths.root / self.config.cwd if self.config.cwd else self.paths.root
        errlog: IO[str] = stack.enter_context(open_log(self.log_path))
        assert self.config.command is not None
        params = StdioServerParameters(command=self.config.command, args=self.config.args, env=self.config.env or None,
                                       cwd=cwd)
        return stdio_client(params, errlog=errlog)

    async def _halt(self) -> None:
        serving, self._serving = self._serving, None
        if self._stop is not None:
            self._stop.set()
        if serving is None:
            return
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await asyncio.gather(serving, return_exceptions=True)
        except TimeoutError:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    async def stop(self) -> None:
        if self._loop is asyncio.get_running_loop():
            await self._halt()
        if self.state in ("ready", "starting", "crashed"):
            self.state = "stopped"

    # ----- calls ---------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> McpCallResult:
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED

        if not await self.ensure_started():
            return McpCallResult(f"the MCP server {self.name} is not available: {self.error}", is_error=True)
        client = self._client
        if client is None:  # the connection ended on its own since the server started
            return await self._crash_reported(tool)
        limit = self.settings.call_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            return McpCallResult(f"no answer from the MCP server {self.name} within {limit:g} s "
                                 "(mcp.call_timeout_seconds)", is_error=True)
        except MCPError as error:
            if error.code != CONNECTION_CLOSED:
                return McpCallResult(f"the MCP server {self.name} refused the call: {error}", is_error=True)
            return await self._crash_reported(tool)
        return McpCallResult(result_text(result, self.settings.max_result_chars), is_error=bool(result.is_error))

    async def _crash_reported(self, tool: str) -> McpCallResult:
        """The server went away: mark it crashed (the next use restarts it, once) and say so to the model."""
        await self._halt()
        self.state, self.error = "crashed", "it stopped unexpectedly"
        again = "it is restarted for the next call" if self.restarts < MAX_RESTARTS else \
            "it had been restarted once already, so it stays off"
        return McpCallResult(f"the MCP server {self.name} stopped while running {tool} (connection closed); "
                             f"{again}. Its log: {self.log_path}", is_error=True)

    def status(self) -> ServerStatus:
        tools, unusable = self.usable_tools()
        excluded = [f"{name}: not in [mcp.servers.{self.name}] tools" for name in self.excluded_tools()]
        return ServerStatus(self.name, self.transport, self.state, self.error, [info.name for info in tools],
                            [*excluded, *(f"{name}: {why}" for name, why in unusable)])

    def excluded_tools(self) -> list[str]:
        """Tools the configuration's allowlist leaves out."""
        return [info.name for info in self.tools if not self._allowed(info.name)]

    def usable_tools(self) -> tuple[list[McpToolInfo], list[tuple[str, str]]]:
        """The allowed tools agents get, and each allowed one that cannot be offered, with why."""
        usable: list[McpToolInfo] = []
        unusable: list[tuple[str, str]] = []
        for info in self.tools:
            if not self._allowed(info.name):
                continue
            if problem := schema_problem(info.parameters):
                unusable.append((info.name, problem))
            elif len(mcp_tool_name(self.name, info.name)) > TOOL_NAME_LIMIT:
                unusable.append((info.name, f"its name would be over {TOOL_NAME_LIMIT} characters"))
            else:
                usable.append(info)
        return usable, unusable

    def _allowed(self, tool: str) -> bool:
        return self.config.tools is None or any(fnmatch.fnmatchcase(tool, allowed) for allowed in self.config.tools)


class McpHub:
    """Every configured MCP server of the workspace; the tool registry's source of MCP tools."""

    def __init__(self, settings: McpSettings, paths: WorkspacePaths) -> None:
        configs, self.config_problems = settings.parsed()
        self.servers = {name: McpServer(name, config, settings, paths) for name, config in configs.items()}

    async def load_tools(self) -> tuple[list[Tool], list[str]]:
        """Start what has not started, then every usable tool, and what is unavailable and why."""
        problems = [f"MCP server {name} is misconfigured ({why}); fix [mcp.servers.{name}] in .oboto/config.toml"
                    for name, why in self.config_problems.items()]
        enabled = [server for server in self.servers.values() if server.state != "disabled"]
        if not enabled:
            return [], problems
        await asyncio.gather(*(server.ensure_started() for server in enabled))
        tools: list[Tool] = []
        names: set[str] = set()
        for server in enabled:
            if server.state != "ready":
                problems.append(f"MCP server {server.name} is not available ({server.error}); its tools are left out")
                continue
            usable, unusable = server.usable_tools()
            for info in usable:
                name = mcp_tool_name(server.name, info.name)
                if name in names:
                    unusable.append((info.name, f"its name {name} clashes with another tool of the server"))
                    continue
                names.add(name)
                tools.append(McpTool(server.name, info.name, info.description, info.parameters, self))
            problems += [f"the MCP tool {mcp_tool_name(server.name, name)} is left out: {why}"
                         for name, why in unusable]
        return tools, problems

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any]) -> McpCallResult:
        target = self.servers.get(server)
        if target is None:
            return McpCallResult(f"there is no MCP server called {server}", is_error=True)
        return await target.call(tool, arguments)

    async def statuses(self, *, start: bool) -> list[ServerStatus]:
        """Every server (started first when `start`), then the misconfigured ones."""
        if start:
            await self.load_tools()
        found = [server.status() for server in self.servers.values()]
        found += [ServerStatus(name, "-", "failed", f"misconfigured: {why}") for name, why in
                  self.config_problems.items()]
        return found

    async def aclose(self) -> None:
        """Stop every server this process started."""
        await asyncio.gather(*(server.stop() for server in self.servers.values()), return_exceptions=True)


async def _list_all_tools(client: Any) -> list[McpToolInfo]:
    tools: list[McpToolInfo] = []
    cursor = None
    for _page in range(100):  # a server that keeps handing out cursors must not hold the start forever
        listing = await client.list_tools(cursor=cursor)
        tools += [McpToolInfo(tool.name, tool.description or "", dict(tool.input_schema or {}))
                  for tool in listing.tools]
        cursor = listing.next_cursor
        if not cursor:
            break
    return tools


def result_text(result: Any, limit: int) -> str:
    """An MCP result's content as text for the model, cut in the middle beyond `limit` characters."""
    import orjson

    parts: list[str] = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} content of type {getattr(item, 'mime_type', '?')}, not shown]")
        elif kind == "resource":
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {item.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(orjson.dumps(result.structured_content, option=orjson.OPT_INDENT_2).decode())
    return cut_middle("\n".join(parts), limit, "mcp.max_result_chars")


def describe_failure(failure: BaseException, server: McpServer) -> str:
    """Why a server did not start, in plain words."""
    leaf = failure
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    if isinstance(leaf, FileNotFoundError):
        return (f"the program {server.config.command!r} was not found; check `command` in "
                f"[mcp.servers.{server.name}]")
    if isinstance(leaf, PermissionError):
        return f"the program {server.config.command!r} cannot be run ({leaf.strerror})"
    text = str(leaf) or type(leaf).__name__
    if "Connection closed" in text and server.transport == "stdio":
        return f"it exited before it answered; its output is in {server.log_path}"
    name = type(leaf).__name__
    if "Connect" in name:
        return f"nothing answers at {server.config.url} ({text})"
    return f"{name}: {' '.join(text.split())[:300]}"
