"""200 background tasks end to end against the scripted server, at concurrency 3 and 10, against bare
`litellm.acompletion` calls at the same concurrency.

The baseline makes the same 200 streamed completions through litellm straight to the server, with the same
concurrency; the ratio is the share of that throughput oboto keeps with its whole path (the agent turn,
records, logs, notices, episodes). Targets: at 10, at least 0.5x bare litellm, and at least twice the 10–12
tasks/s oboto reached before the durable writer.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from common import report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

TASKS = 200
CONCURRENCIES = (3, 10)
REPLY = Reply(text="Checked it; everything is in order. " * 3, chunk_size=16, delay=0.02)


async def bare_litellm(base_url: str, concurrency: int) -> float:
    import litellm

    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with limit:
            stream = await litellm.acompletion(model="openai/bench", api_base=base_url, api_key="bench", stream=True,
                                               messages=[{"role": "user", "content": f"check item {index}"}])
            async for _ in stream:
                pass

    await one(-1)  # warm up
    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(TASKS)))
    return TASKS / (time.perf_counter() - started)


async def through_oboto(base_url: str, concurrency: int) -> float:
    from oboto.services.runtime import Runtime

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench",
                      OBOTO_TASKS__MAX_CONCURRENT=str(concurrency))
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
    only = [int(value) for value in sys.argv[1:]] or CONCURRENCIES
    with ScriptedLLM(default=REPLY) as server:
        for concurrency in only:
            floor = asyncio.run(bare_litellm(server.base_url, concurrency))
            rate = asyncio.run(through_oboto(server.base_url, concurrency))
            report(f"{TASKS} background tasks end to end at concurrency {concurrency}", rate, "tasks/s", floor,
                   f"bare litellm.acompletion at {concurrency}")


if __name__ == "__main__":
    main()
