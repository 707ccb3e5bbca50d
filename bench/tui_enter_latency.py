"""Enter in the chat input to the screen changing, and to the person's message being on screen, while the
scripted model takes 5 s to answer (targets: under 50 ms both).

"On screen" is the frame the app hands to its driver (`App._display`, the call that writes to the terminal; the
headless test driver only skips the write itself). Each sample sends a new message, times the first frame
after Enter and the first frame that draws the message's text, then cancels the reply (Esc) and waits for the
turn to end. The baseline, measured in the same run the same way, is a bare Textual app with a TextArea:
a key press to its first frame.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import report, temp_workspace
from oboto.testing import Reply, ScriptedLLM

SAMPLES = 12
WARM_UP = 2
BASELINE_SAMPLES = 40
MODEL_DELAY_SECONDS = 5.0


class FrameSpy:
    """Wraps `App._display`: when each frame went out, and what it drew (rendered after the timing)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.frames: list[tuple[float, Any]] = []
        original: Callable[[Any, Any], None] = app._display

        def display(screen: Any, update: Any) -> None:
            if update is not None:
                self.frames.append((time.perf_counter(), update))
            original(screen, update)

        app._display = display

    def first_after(self, started: float, text: str | None = None) -> float | None:
        for at, update in self.frames:
            if at >= started and (text is None or text in update.render_segments(self.app.console)):
                return at - started
        return None


async def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.001)


async def oboto_enter_latencies(base_url: str) -> tuple[list[float], list[float]]:
    """Seconds from Enter to the first frame, and to the frame with the message, per sample."""
    from textual import events

    from oboto.services.runtime import Runtime
    from oboto.tui.app import make_app
    from oboto.tui.widgets.chat_input import ChatInput

    os.environ.update(OBOTO_MODEL="openai/bench", OBOTO_API_BASE=base_url, OPENAI_API_KEY="bench")
    app = make_app(runtime=Runtime.open(temp_workspace()), start_runner=False, watch_files=False)
    first_change, message_shown = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        chat_input = app.screen.query_one(ChatInput)
        await wait_for(lambda: chat_input.has_focus and app.screen.query_one("#conversation").shown is not None)
        spy = FrameSpy(app)
        for index in range(WARM_UP + SAMPLES):
            text = f"latencyprobe{index:03d}"
            chat_input.text = text
            await pilot.pause()  # the typed text is drawn before the clock starts
            spy.frames.clear()
            started = time.perf_counter()
            app.post_message(events.Key("enter", "\r"))
            await wait_for(lambda: spy.first_after(started, text) is not None)
            if index >= WARM_UP:
                first_change.append(spy.first_after(started))
                message_shown.append(spy.first_after(started, text))
            await pilot.press("escape")  # the model would answer in 5 s; the next sample needs no reply
            await wait_for(lambda: not app.screen.replying)
        await app.quit_now()
    return first_change, message_shown


async def bare_textual_key_latencies() -> list[float]:
    from textual import events
    from textual.app import App, ComposeResult
    from textual.widgets import TextArea

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield TextArea()

    app = Bare()
    samples = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        spy = FrameSpy(app)
        for index in range(WARM_UP + BASELINE_SAMPLES):
            await pilot.pause()
            spy.frames.clear()
            started = time.perf_counter()
            app.post_message(events.Key("x", "x"))
            await wait_for(lambda: spy.first_after(started) is not None)
            if index >= WARM_UP:
                samples.append(spy.first_after(started))
    return samples


def main() -> None:
    with ScriptedLLM(default=Reply(text="late answer", delay=MODEL_DELAY_SECONDS)) as server:
        first_change, message_shown = asyncio.run(oboto_enter_latencies(server.base_url))
    baseline = statistics.median(asyncio.run(bare_textual_key_latencies())) * 1000
    report("Enter to the first change on screen (model answering after 5 s, median)",
           statistics.median(first_change) * 1000, "ms", baseline, "a bare Textual app's key to its frame")
    report("Enter to the person's message on screen (median)",
           statistics.median(message_shown) * 1000, "ms", baseline, "a bare Textual app's key to its frame")


if __name__ == "__main__":
    main()
