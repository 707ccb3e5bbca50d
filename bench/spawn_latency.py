"""Spawn latency with 1,000 tasks already queued, against one durable write of the same record.

A spawn must put the record on disk (atomic replace with fsync) before it returns the id; that write
is the floor, and the ratio shows what queueing and bookkeeping add on top.
"""

from __future__ import annotations

import asyncio
import os
import time

from common import percentile, temp_workspace
from oboto.core.atomic import atomic_write_json
from oboto.services.task_models import TaskRecord
from oboto.testing import Reply, ScriptedLLM

QUEUED = 1000
MEASURED = 300


async def measure(base_url: str) -> tuple[list[float], list[float]]:
    from oboto.services.runtime import Runtime

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench",
                      OBOTO_TASKS__MAX_CONCURRENT="1")
    runtime = Runtime.open(temp_workspace())
    runtime.activate_runner()
    for index in range(QUEUED):
        runtime.tasks.spawn(f"filler {index}", "wait in the queue")
    spawns = []
    for index in range(MEASURED):
        started = time.perf_counter()
        runtime.tasks.spawn(f"measured {index}", "measure me")
        spawns.append(time.perf_counter() - started)
    floor = []
    record = TaskRecord(description="floor", query="measure me").model_dump(mode="json")
    for index in range(MEASURED):
        path = runtime.paths.tasks_dir / f"floor-{index}.json"
        started = time.perf_counter()
        atomic_write_json(path, record)
        floor.append(time.perf_counter() - started)
    await runtime.deactivate_runner("benchmark over")
    return spawns, floor


def main() -> None:
    with ScriptedLLM(default=Reply(text="slow", delay=60)) as server:
        spawns, floor = asyncio.run(measure(server.base_url))
    p50, p99, floor50 = (percentile(spawns, 0.5) * 1000, percentile(spawns, 0.99) * 1000,
                         percentile(floor, 0.5) * 1000)
    print(f"spawn latency with {QUEUED} queued: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({p50 / floor50:.2f}x vs one atomic record write {floor50:.2f} ms)")


if __name__ == "__main__":
    main()
