"""Delivering one service event to the TUI: from `bus.publish` to the interested widget having updated.

The main screen is fully mounted (a 40-message conversation, 20 background tasks listed); each event names one task, so the
tasks panel re-reads that record. Each of 400 events is published on an idle app and timed until the
panel's handler has run; the figure is the mean. The baseline, measured in the same run, calls that
handler directly: what is left over is the cost of the path from the bus to the widget.

Run against another commit's code (the figures before a change) with its tree first on the path:
    git archive main | tar -x -C /tmp/oboto-main && PYTHONPATH=/tmp/oboto-main python bench/tui_event_delivery.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from common import report, temp_workspace

TASKS = 20
MESSAGES = 40
"""A shown conversation's worth of messages (the view mounts 40), so the screen has its usual widgets."""
REPLY = "Some **Markdown**:\n\n- a list item\n- another with `code`\n\n```python\nprint('hi')\n```"
EVENTS = 400
WARM_UP = 20


async def delivery_and_handler_times() -> tuple[float, float, int]:
    """Mean seconds per event (publish to the panel's handler done; the handler called directly), and how many
    widgets the screen has."""
    from oboto.core.events import TaskStatusChanged
    from oboto.services.conversation_models import Message
    from oboto.services.runtime import Runtime
    from oboto.tui.app import make_app
    from oboto.tui.widgets.tasks_panel import TasksPanel

    root = temp_workspace()
    runtime = Runtime.open(root)
    for index in range(MESSAGES):
        runtime.conversations.append("chat", Message(role="user" if index % 2 == 0 else "assistant",
                                                     content=f"Message {index}\n\n" + REPLY))
    task_ids = [runtime.tasks.spawn(f"task {index}", "wait").id for index in range(TASKS)]
    app = make_app(runtime=runtime, start_runner=False, watch_files=False)
    handled_at: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.screen.query_one(TasksPanel)
        while panel.option_count < TASKS or len(app.screen.query("UserMessage")) < MESSAGES // 2:
            await pilot.pause()  # the list and the conversation are read once the screen is up
        widgets = 0
        while widgets != (widgets := len(app.screen.query("*"))):
            await pilot.pause(0.2)  # Markdown mounts its blocks after the message widgets
        reload_records = panel._reload

        def timed_reload(ids: set[str]) -> None:
            reload_records(ids)
            handled_at.append(time.perf_counter())

        panel._reload = timed_reload  # the interested widget's handler, whichever path calls it
        delivered = []
        for index in range(WARM_UP + EVENTS):
            await pilot.pause()  # the previous update is painted: its repaint is not counted here
            before = len(handled_at)
            started = time.perf_counter()
            runtime.bus.publish(TaskStatusChanged(task_id=task_ids[index % TASKS], status="queued"))
            while len(handled_at) == before:
                await asyncio.sleep(0)
            if index >= WARM_UP:
                delivered.append(handled_at[-1] - started)
        direct = []
        for index in range(EVENTS):
            started = time.perf_counter()
            reload_records({task_ids[index % TASKS]})
            direct.append(time.perf_counter() - started)
        await app.quit_now()
    return statistics.mean(delivered), statistics.mean(direct), widgets


def main() -> None:
    delivered, direct, widgets = asyncio.run(delivery_and_handler_times())
    report(f"one event from bus.publish to the tasks panel updated ({TASKS} tasks, {widgets} widgets on screen)",
           delivered * 1000, "ms", direct * 1000, "calling the handler directly")


if __name__ == "__main__":
    main()
