"""CPU the runner spends per second of idling with 10,000 schedules, against the same runner with none.

Both phases run in this process for the same wall time after start-up, on fresh temp workspaces,
with every schedule due a day from now; no model is called. The phases alternate and the lowest
figure of each is kept, which filters out the machine's own noise.
"""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import timedelta

from common import temp_workspace

from oboto.core.atomic import atomic_write_json
from oboto.core.models import utc_now
from oboto.services.runtime import Runtime

SCHEDULES = 10_000
IDLE_SECONDS = 3.0
ROUNDS = 2


async def idle_cpu_ms_per_second(count: int) -> float:
    """Start a runner on a workspace with `count` schedules, then measure CPU over an idle stretch."""
    root = temp_workspace()
    runtime = Runtime.open(root)
    later = (utc_now() + timedelta(days=1)).isoformat()
    schedules = [{"id": f"s-{index:08x}", "name": f"job {index}", "query": "check the build",
                  "interval_seconds": 3600, "next_run_at": later} for index in range(count)]
    atomic_write_json(runtime.paths.schedules, {"version": 1, "schedules": schedules})
    runtime.activate_runner()
    try:
        await asyncio.sleep(0.5)  # let start-up work (loading, heap building) finish before measuring
        gc.collect()
        cpu_before = time.process_time()
        await asyncio.sleep(IDLE_SECONDS)
        return (time.process_time() - cpu_before) * 1000 / IDLE_SECONDS
    finally:
        await runtime.deactivate_runner("the benchmark finished")


async def main() -> None:
    baselines, loads = [], []
    for _round in range(ROUNDS):
        baselines.append(await idle_cpu_ms_per_second(0))
        loads.append(await idle_cpu_ms_per_second(SCHEDULES))
    baseline, loaded = min(baselines), min(loads)
    # both figures are close to zero; a floor keeps the ratio meaningful when the baseline rounds to nothing
    ratio = loaded / max(baseline, 0.001)
    print(f"scheduler idle cost: {loaded:.3f} ms CPU per second with {SCHEDULES} schedules "
          f"(ratio vs baseline: {ratio:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
