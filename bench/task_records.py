"""What 100,000 task records on disk cost a runner, against the same runner with 100.

- start to active: from opening the workspace until the Runner is active (it runs what is spawned; the TUI is
  usable), the first time (no index snapshot yet: every record is read) and on a restart (the snapshot the first
  runner left: records are only listed and stat'ed);
- start to index built: until the task index is built in its thread (then recovery and the old queue follow);
- CPU per new task: tasks queued by another Runtime (the runner hears of them through its watcher, as of another
  process's spawn) and run against the scripted server, CPU of this process per task.

    python bench/task_records.py [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta

import orjson

from common import report, temp_workspace
from oboto.core.models import utc_now
from oboto.testing import Reply, ScriptedLLM

BASELINE_RECORDS = 100
NEW_TASKS = 40


def write_records(root, count: int) -> None:
    """`count` finished records (notices posted), written the way the TaskManager writes them."""
    from oboto.services.task_models import TaskRecord

    tasks = root / ".oboto" / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    ended = utc_now() - timedelta(days=1)
    template = TaskRecord(description="scheduled check", query="check the build", status="completed",
                          result="nothing new", created_at=ended, finished_at=ended, started_at=ended,
                          notice_posted=True, origin="schedule").model_dump(mode="json")
    for index in range(count):
        task_id = f"t-{index:08x}"
        (tasks / f"{task_id}.json").write_bytes(orjson.dumps({**template, "id": task_id}, option=orjson.OPT_INDENT_2))


def workspace_with(count: int):
    root = temp_workspace()
    write_records(root, count)
    return root


async def measure(root) -> tuple[float, float, float]:
    """(seconds from open to active, seconds from open to the index built, CPU ms per new task) of a runner on
    the workspace at `root`; the CPU is measured once the index is built."""
    from oboto.services.runner import Runner
    from oboto.services.runtime import Runtime

    started = time.perf_counter()
    runtime = Runtime.open(root)
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run())
    assert await runner.wait_until_active(600)
    to_active = time.perf_counter() - started
    while not runtime.tasks.index.ready:
        await asyncio.sleep(0.01)
    to_built = time.perf_counter() - started
    try:
        await runtime.llm.complete([{"role": "user", "content": "warm up"}])
        other = Runtime.open(root)
        cpu = time.process_time()
        ids = [other.tasks.spawn(f"new {index}", f"new job {index}").id for index in range(NEW_TASKS)]
        for task_id in ids:
            record = await runtime.tasks.wait(task_id, 300)
            assert record.status == "completed", record.error
        per_task = (time.process_time() - cpu) * 1000 / NEW_TASKS
    finally:
        runner.stop()
        await serving
    return to_active, to_built, per_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.update(OBOTO_MODEL="openai/bench", OPENAI_API_KEY="bench")
    with ScriptedLLM(default=Reply(text="Checked; nothing new.")) as server:
        os.environ["OBOTO_API_BASE"] = server.base_url
        base_active, base_built, base_cpu = asyncio.run(measure(workspace_with(BASELINE_RECORDS)))
        root = workspace_with(args.records)
        first_active, first_built, _ = asyncio.run(measure(root))
        active, built, cpu = asyncio.run(measure(root))
    baseline = f"{BASELINE_RECORDS} records"
    report(f"runner first start to active with {args.records} task records (no snapshot)", first_active, "s",
           base_active, baseline)
    report(f"runner first start to index built with {args.records} task records", first_built, "s", base_built,
           baseline)
    report(f"runner restart to active with {args.records} task records", active, "s", base_active, baseline)
    report(f"runner restart to index built with {args.records} task records", built, "s", base_built, baseline)
    report(f"CPU per new task with {args.records} task records", cpu, "ms", base_cpu, f"{BASELINE_RECORDS} records")


if __name__ == "__main__":
    main()
