"""What agent profiles, project instructions and MCP add to a turn, against a scripted turn in the same run.

The baseline is one foreground turn through oboto and litellm against the scripted server (one model call, a
plain answer). The figures: preparing a turn's agent (its profile looked up, the system prompt with a 4 KB
AGENTS.md, the tool sources asked for their tools, no MCP server), and one MCP tool call to a stdio server
(the SDK-built test server's `echo`) against a built-in `read_file` call. Target: the preparation under 5% of the
turn.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from common import median_ms, report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

TURNS = 20
PREPARATIONS = 300
CALLS = 100
TEST_SERVER = Path(__file__).resolve().parents[1] / "tests" / "mcp_servers" / "misbehaving.py"


async def plain_turns(root: Path) -> list[float]:
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    samples = []
    for index in range(TURNS + 3):
        started = time.perf_counter()
        assert (await runtime.chat("chat", f"hello {index}")).ok
        if index >= 3:
            samples.append(time.perf_counter() - started)
    return samples


async def preparations(root: Path) -> list[float]:
    from oboto.agent.prompt import system_prompt
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    samples = []
    for _ in range(PREPARATIONS):
        started = time.perf_counter()
        ctx = runtime.tool_context(conversation="chat", profile=runtime.conversation_profile("chat"))
        system_prompt(ctx)
        await runtime.tools.prepare()
        runtime.tools.schemas(ctx)
        samples.append(time.perf_counter() - started)
    return samples


async def tool_calls(root: Path) -> tuple[list[float], list[float]]:
    from oboto.services.runtime import Runtime

    (root / ".oboto").mkdir(exist_ok=True)
    (root / ".oboto" / "config.toml").write_text(
        f'[permissions]\nmode = "full"\n\n[mcp]\nstartup_timeout_seconds = 300\n\n[mcp.servers.bench]\n'
        f'command = "{sys.executable}"\nargs = ["{TEST_SERVER}"]\n')
    (root / "notes.txt").write_text("hello\n")
    runtime = Runtime.open(root)
    ctx = runtime.tool_context(conversation="chat")
    await runtime.tools.prepare()
    mcp, builtin = [], []
    try:
        for index in range(CALLS):
            started = time.perf_counter()
            result = await runtime.tools.execute("mcp__bench__echo", {"text": f"call {index}"}, ctx)
            mcp.append(time.perf_counter() - started)
            assert result.ok, result.content
            started = time.perf_counter()
            assert (await runtime.tools.execute("read_file", {"path": "notes.txt"}, ctx)).ok
            builtin.append(time.perf_counter() - started)
    finally:
        await runtime.aclose()
    return mcp, builtin


def main() -> None:
    root = temp_workspace()
    (root / "AGENTS.md").write_text("Run the tests before you finish.\n" * 120)
    with ScriptedLLM() as server:
        server.respond_with(lambda request: Reply(text="Hello."))
        os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=server.base_url, OPENAI_API_KEY="bench")
        turn = median_ms(asyncio.run(plain_turns(root)))
    prepared = median_ms(asyncio.run(preparations(root)))
    mcp, builtin = asyncio.run(tool_calls(temp_workspace()))
    report("agent preparation per turn (profile, AGENTS.md, tool sources)", prepared, "ms", turn, "scripted turn")
    report("MCP tool call over stdio (echo)", median_ms(mcp), "ms", median_ms(builtin), "read_file call")


if __name__ == "__main__":
    main()
