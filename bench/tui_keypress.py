"""Key press to the chat input showing it, while 20 background tasks stream output.

The baseline is the same app with nothing running in the background, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import time

from common import percentile, temp_workspace
from oboto.testing import Reply, ScriptedLLM

PRESSES = 40
BACKGROUND_TASKS = 20
STREAMING = Reply(text="streaming output line. " * 400, chunk_size=12, chunk_delay=0.01)


async def keypress_latencies(base_url: str, background: int) -> list[float]:
    from oboto.services.runtime import Runtime
    from oboto.tui.app import make_app
    from oboto.tui.widgets.chat_input import ChatInput

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench",
                      OBOTO_TASKS__MAX_CONCURRENT=str(max(1, background)))
    app = make_app(runtime=Runtime.open(temp_workspace()))
    samples = []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.runner is None or not app.runner.is_runner:
            await asyncio.sleep(0.05)
        for index in range(background):
            app.runtime.tasks.spawn(f"stream {index}", f"stream {index}")
        while len(app.runtime.tasks.running_ids) < background:
            await asyncio.sleep(0.05)
        chat_input = app.screen.query_one(ChatInput)
        chat_input.focus()
        await pilot.pause()
        for _ in range(PRESSES):
            before = len(chat_input.text)
            started = time.perf_counter()
            app.simulate_key("x")
            while len(chat_input.text) == before:
                await asyncio.sleep(0.0005)
            samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)  # a person types a few keys a second, not in a burst
        await app.quit_now()
    return samples


def main() -> None:
    with ScriptedLLM(default=STREAMING) as server:
        idle = asyncio.run(keypress_latencies(server.base_url, 0))
        busy = asyncio.run(keypress_latencies(server.base_url, BACKGROUND_TASKS))
    baseline, p50, p99 = percentile(idle, 0.5) * 1000, percentile(busy, 0.5) * 1000, percentile(busy, 0.99) * 1000
    print(f"key press to input update with {BACKGROUND_TASKS} tasks streaming: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({p50 / baseline:.2f}x vs nothing in the background {baseline:.2f} ms)")


if __name__ == "__main__":
    main()
