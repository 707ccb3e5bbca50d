"""An MCP server built with the SDK's MCPServer (FastMCP) that misbehaves on purpose, for oboto's MCP tests.

    python misbehaving.py [--http PORT] [--slow-start SECONDS] [--crash-marker FILE]

Tools: `echo` (well behaved), `slow` (sleeps far longer than any test waits), `crash` (the process exits at once
while answering), `broken_schema` (its input schema is not an object, which a client must refuse) and `fail`
(returns a tool error). With --crash-marker, `crash` only exits the first time (the file records that it did),
so a restarted server answers.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def build(crash_marker: Path | None) -> MCPServer:
    server = MCPServer("misbehaving")

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return f"echo: {text}"

    @server.tool(description="Sleep for a very long time.")
    def slow(seconds: float = 3600) -> str:
        time.sleep(seconds)
        return "woke up"

    @server.tool(description="Exit the server process while answering.")
    def crash() -> str:
        if crash_marker is None or not crash_marker.exists():
            if crash_marker is not None:
                crash_marker.write_text("crashed once\n")
            os._exit(3)
        return "still alive after a restart"

    @server.tool(description="Always fails.")
    def fail() -> str:
        raise RuntimeError("this tool always fails")

    @server.tool(description="A tool whose schema is broken.")
    def broken_schema(value: str) -> str:
        return value

    # Well-formed JSON but not a valid JSON Schema: "strnig" is no type, so a client must refuse the tool.
    server._tool_manager.get_tool("broken_schema").parameters = {
        "type": "object", "properties": {"value": {"type": "strnig"}}, "required": ["value"]}
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("--crash-marker", type=Path)
    args = parser.parse_args()
    if args.slow_start:
        time.sleep(args.slow_start)
    server = build(args.crash_marker)
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
