"""200 background tasks end to end against the scripted server, at concurrency 3 and 10, against bare
`litellm.acompletion` calls at the same concurrency.

The baseline makes the same 200 streamed completions through litellm straight to the server, with the same
concurrency; the ratio is the share of that throughput oboto keeps with its whole path (the agent turn,
records, logs, notices, episodes). Each side runs in a process of its own with the server in this one, as a
model server is never inside the client's process (sharing one interpreter lock with it slowed both sides).
Targets: at 10, at least 0.5x bare litellm, and at least twice the 10–12 tasks/s oboto reached before the
durable writer.

    python bench/tasks_throughput.py [CONCURRENCY ...]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from common import PYTHON, report, temp_workspace
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
    # Warmed up as the baseline is: one task first, so litellm, the vector store and its embedder are loaded
    # (once per process, as `bench/cli_startup.py` and `bench/memory.py` measure) before the clock starts.
    warm_up = runtime.tasks.spawn("warm up", "warm up").id
    assert (await runtime.tasks.wait(warm_up, 300)).status == "completed"
    await runtime.memory.drain()
    started = time.perf_counter()
    ids = [runtime.tasks.spawn(f"check {index}", f"check item {index}").id for index in range(TASKS)]
    for task_id in ids:
        record = await runtime.tasks.wait(task_id, 300)
        assert record.status == "completed", record.error
    elapsed = time.perf_counter() - started
    await runtime.deactivate_runner("benchmark over")
    return TASKS / elapsed


MEASURES = {"bare": bare_litellm, "oboto": through_oboto}


def measured_apart(kind: str, base_url: str, concurrency: int) -> float:
    """The throughput of one side, measured in a fresh process of its own."""
    done = subprocess.run([PYTHON, __file__, "--measure", kind, base_url, str(concurrency)], check=True,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        kind, base_url, concurrency = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(asyncio.run(MEASURES[kind](base_url, concurrency)))
        return
    only = [int(value) for value in sys.argv[1:]] or CONCURRENCIES
    with ScriptedLLM(default=REPLY) as server:
        for concurrency in only:
            floor = measured_apart("bare", server.base_url, concurrency)
            rate = measured_apart("oboto", server.base_url, concurrency)
            report(f"{TASKS} background tasks end to end at concurrency {concurrency}", rate, "tasks/s", floor,
                   f"bare litellm.acompletion at {concurrency}")


if __name__ == "__main__":
    main()
