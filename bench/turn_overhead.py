"""One agent turn through oboto against a raw HTTP request to the same scripted server.

Both do one streamed chat completion with the same reply; the difference is what oboto adds: litellm,
the tool schemas, persisting the user message and the streamed reply (fsynced), and events.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from common import median_ms, report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

TURNS = 40
WARMUP = 3
REPLY = Reply(text="All done: the answer is forty-two. " * 4, chunk_size=16)


async def raw_http(base_url: str) -> list[float]:
    samples = []
    body = {"model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient() as client:
        for index in range(TURNS + WARMUP):
            started = time.perf_counter()
            async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                async for _ in response.aiter_lines():
                    pass
            if index >= WARMUP:
                samples.append(time.perf_counter() - started)
    return samples


async def oboto_turns(base_url: str) -> list[float]:
    from oboto.services.runtime import Runtime

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench")
    runtime = Runtime.open(temp_workspace())
    samples = []
    for index in range(TURNS + WARMUP):
        started = time.perf_counter()
        outcome = await runtime.chat("chat", f"question {index}")
        assert outcome.ok, outcome.error
        if index >= WARMUP:
            samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    with ScriptedLLM(default=REPLY) as server:
        baseline = median_ms(asyncio.run(raw_http(server.base_url)))
        turn = median_ms(asyncio.run(oboto_turns(server.base_url)))
    report("agent turn (one streamed reply)", turn, "ms", baseline, "raw HTTP request")


if __name__ == "__main__":
    main()
