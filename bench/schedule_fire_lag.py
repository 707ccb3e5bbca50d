"""500 schedules due at the same instant: the lag from their due time to each durable firing (p99).

The lag is measured at `ScheduleFired`, which is published once the run's task record and schedules.json are
on disk. The baseline is one schedule due alone, in the same run. Target: p99 ≤ 200 ms.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta, timezone

from common import percentile, report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

DUE = 500
LEAD_SECONDS = 2.0


async def fire_lag(base_url: str, count: int) -> list[float]:
    from oboto.core.events import ScheduleFired
    from oboto.core.store import document_transaction
    from oboto.services.runtime import Runtime
    from oboto.services.schedule_models import ScheduleDocument

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench")
    runtime = Runtime.open(temp_workspace())
    for index in range(count):
        runtime.scheduler.create(f"job-{index}", f"check item {index}", interval_seconds=3600)
    due = datetime.now(timezone.utc) + timedelta(seconds=LEAD_SECONDS)
    with document_transaction(runtime.paths.schedules, ScheduleDocument, None, default=ScheduleDocument) as tx:
        tx.doc = ScheduleDocument(schedules=[schedule.model_copy(update={"next_run_at": due})
                                             for schedule in tx.doc.schedules], **(tx.doc.model_extra or {}))
    lags: list[float] = []
    runtime.bus.subscribe(lambda event: lags.append(time.time() - due.timestamp()), ScheduleFired)
    runtime.activate_runner()
    deadline = time.monotonic() + LEAD_SECONDS + 60
    while len(lags) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await runtime.deactivate_runner("benchmark over")
    assert len(lags) == count, f"only {len(lags)} of {count} schedules fired"
    return lags


def main() -> None:
    with ScriptedLLM(default=Reply(text="ok")) as server:
        alone = percentile(asyncio.run(fire_lag(server.base_url, 1)), 0.99) * 1000
        together = percentile(asyncio.run(fire_lag(server.base_url, DUE)), 0.99) * 1000
    report(f"fire lag p99 of {DUE} schedules due at once", together, "ms", alone, "one schedule due alone")


if __name__ == "__main__":
    main()
