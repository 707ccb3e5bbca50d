"""200 background tasks end to end against the scripted server, against the raw-HTTP floor.

The floor sends the same 200 streamed requests straight to the server with the same concurrency; the
ratio is how much slower oboto's full path is (litellm, the agent turn, records, logs, notices).
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from common import report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

TASKS = 200
CONCURRENCY = 8
REPLY = Reply(text="Checked it; everything is in order. " * 3, chunk_size=16, delay=0.02)


async def raw_floor(base_url: str) -> float:
    body = {"model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        async def one() -> None:
            async with limit:
                async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                    async for _ in response.aiter_lines():
                        pass

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(TASKS)))
        return TASKS / (time.perf_counter() - started)


async def through_oboto(base_url: str) -> float:
    from oboto.services.runtime import Runtime

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench",
                      OBOTO_TASKS__MAX_CONCURRENT=str(CONCURRENCY))
    runtime = Runtime.open(temp_workspace())
    runtime.activate_runner()
    await runtime.llm.complete([{"role": "user", "content": "warm up"}])
    started = time.perf_counter()
    ids = [runtime.tasks.spawn(f"check {index}", f"check item {index}").id for index in range(TASKS)]
    for task_id in ids:
        record = await runtime.tasks.wait(task_id, 300)
        assert record.status == "completed", record.error
    elapsed = time.perf_counter() - started
    await runtime.deactivate_runner("benchmark over")
    return TASKS / elapsed


def main() -> None:
    with ScriptedLLM(default=REPLY) as server:
        floor = asyncio.run(raw_floor(server.base_url))
        rate = asyncio.run(through_oboto(server.base_url))
    report(f"{TASKS} background tasks end to end", rate, "tasks/s", floor, "raw HTTP floor")


if __name__ == "__main__":
    main()
