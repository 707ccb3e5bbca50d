"""`oboto mcp list [--json]`: every configured MCP server, started to show its state and tools."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import EXIT_OK, add_json_flag, open_runtime, print_json

HELP = "list the MCP servers of [mcp.servers.*], their state and their tools"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="mcp_action", metavar="ACTION", required=True)
    add_json_flag(actions.add_parser("list", help="each server (started to look), its state and tools"))


async def statuses(runtime) -> list:
    try:
        return await runtime.mcp.statuses(start=True)
    finally:
        await runtime.aclose()


def run(args: Namespace) -> int:
    import asyncio  # here, not at the top: the parser imports this module for every command, even `--help`

    runtime = open_runtime(args)
    found = asyncio.run(statuses(runtime))
    if args.json:
        print_json([status.to_json() for status in found])
        return EXIT_OK
    if not found:
        print("no MCP servers configured (add [mcp.servers.NAME] with command or url to .oboto/config.toml)")
    for status in found:
        print(f"{status.name}  {status.transport}  {status.state}" + (f": {status.error}" if status.error else ""))
        for tool in status.tools:
            print(f"  mcp__{status.name}__{tool}")
        for skipped in status.skipped_tools:
            print(f"  (left out) {skipped}")
    return EXIT_OK
