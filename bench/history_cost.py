"""What a long history costs: warm turn CPU at 100 / 10k / 100k stored messages, `conversations show --tail 5`
in a new process, and the bytes a streamed reply leaves on disk.

Each history ends with a compaction summary that covers all but the newest 100 messages, so every turn sends
the model the same amount: what grows is only what is stored. The baselines are the 100-message history (turn
CPU, `show --tail`), and the reply's own bytes. Targets: turn CPU at 100k ≤ 1.3x that at 100; `show --tail 5`
at 100k ≤ 0.5 s; stored bytes ≤ 1.2x the reply.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

from common import PYTHON, report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

SIZES = (100, 10_000, 100_000)
KEPT = 100
TURNS = 8
REPLY_TEXT = ("The build is green again: the flaky test waited on a socket that was never closed. " * 95)[:7900]


def build_history(root: Path, count: int) -> None:
    """`count` messages in `chat`, the oldest `count - KEPT` covered by a compaction summary, indexed once."""
    from oboto.core.paths import WorkspacePaths
    from oboto.services.conversation_models import COMPACTION_MARKER, Message
    from oboto.services.conversations import ConversationManager

    paths = WorkspacePaths.for_root(root)
    paths.ensure()
    messages = [Message(role="user" if index % 2 == 0 else "assistant", content=f"message number {index} " * 4)
                for index in range(count)]
    covered = messages[-KEPT - 1] if count > KEPT else None
    lines = [orjson.dumps(message.model_dump(mode="json", exclude_none=True)) for message in messages]
    if covered is not None:
        summary = Message(role="system", content="[summary of the earlier conversation]", marker=COMPACTION_MARKER,
                          compacted_through=covered.id)
        lines.insert(len(lines) - KEPT, orjson.dumps(summary.model_dump(mode="json", exclude_none=True)))
    with paths.conversation_file("chat").open("ab") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    from oboto.core.bus import EventBus

    ConversationManager(paths, EventBus()).message_count("chat")


async def warm_turn_cpu(root: Path) -> float:
    """Median process CPU of one turn after two warm-up turns (in ms)."""
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    samples = []
    for index in range(TURNS + 2):
        started = time.process_time()
        outcome = await runtime.chat("chat", f"question {index}")
        assert outcome.ok, outcome.error
        if index >= 2:
            samples.append(time.process_time() - started)
    return statistics.median(samples) * 1000


def show_tail_seconds(root: Path) -> float:
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-m", "oboto", "--workspace", str(root), "conversations", "show", "chat", "--tail", "5"],
                       check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
        samples.append(time.perf_counter() - started)
    return min(samples)


async def reply_bytes(root: Path) -> int:
    """The bytes one streamed reply of REPLY_TEXT adds to the conversation file."""
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    path = runtime.paths.conversation_file("chat")
    await runtime.chat("chat", "warm up")
    outcome = await runtime.chat("chat", "x")  # the prompt line is counted out below
    assert outcome.ok
    before = path.stat().st_size
    outcome = await runtime.chat("chat", "long")
    assert outcome.ok
    prompt_line = len(orjson.dumps(runtime.conversations.messages("chat")[-2].model_dump(mode="json",
                                                                                        exclude_none=True))) + 1
    return path.stat().st_size - before - prompt_line


def main() -> None:
    selected = [int(value) for value in sys.argv[1:]] or list(SIZES)
    with ScriptedLLM(default=Reply(text="Noted.")) as server:
        os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=server.base_url, OPENAI_API_KEY="bench",
                          OBOTO_LLM__CONTEXT_TOKENS="200000")
        roots = {}
        for size in selected:
            roots[size] = temp_workspace()
            build_history(roots[size], size)
        tails = {size: show_tail_seconds(roots[size]) for size in selected}
        cpu = {size: asyncio.run(warm_turn_cpu(roots[size])) for size in selected}
        base = selected[0]
        for size in selected:
            report(f"warm turn CPU at {size} stored messages", cpu[size], "ms", cpu[base], f"{base} messages")
        for size in selected:
            report(f"conversations show --tail 5 at {size} messages", tails[size], "s", tails[base],
                   f"{base} messages")
    streaming = Reply(text=REPLY_TEXT, chunk_size=40, chunk_delay=0.015)
    with ScriptedLLM(default=streaming) as server:
        os.environ.update(OBOTO_API_BASE=server.base_url)
        stored = asyncio.run(reply_bytes(temp_workspace()))
    report("bytes on disk for a streamed 7.9 KB reply", stored, "bytes", len(REPLY_TEXT.encode()), "reply bytes")


if __name__ == "__main__":
    main()
