"""Snapshots of the status line while a turn works and after it, at 80×24 and 120×40.

Deterministic: no runner, no file watcher, a steady cursor, the sub-title pinned, and the status line's clock
pinned (so the elapsed time and the spinner's frame are the same on every run).
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from oboto.core.paths import WorkspacePaths
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.status_line import StatusLine
from test_tui_snapshots_conversation import quiet_app
from tui_helpers import main_screen_read, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class PinnedClock:
    """The status line's clock, set by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> PinnedClock:
    pinned = PinnedClock()
    monkeypatch.setattr(StatusLine, "clock", pinned)
    return pinned


async def send(pilot: Pilot, text: str) -> None:
    app = pilot.app
    await settle(pilot, lambda: isinstance(app.focused, ChatInput) and main_screen_read(app))
    app.focused.cursor_blink = False
    app.sub_title = "project"
    await pilot.press(*text)
    await pilot.press("enter")


def status_text(pilot: Pilot) -> str:
    return pilot.app.screen.query_one(StatusLine).content.plain


@pytest.mark.parametrize("size", SIZES)
def test_the_status_line_while_the_model_is_thinking(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                      clock: PinnedClock, size: tuple[int, int]) -> None:
    """Enter was pressed 3.2 s ago and the model has not answered yet.

    Must be visible: the person's message "hello" in the conversation at once; above the footer the status
    line's first row "⠹ working 3.2 s · waiting for the model · Esc cancels" (the spinner and time in the
    accent colour), its second row "mode auto-edit (ctrl+t) · chat · openai/scripted"; the footer shows
    "esc Cancel reply" while the reply runs.
    """
    llm_env.add(Reply(text="late", delay=60))

    async def run_before(pilot: Pilot) -> None:
        await send(pilot, "hello")
        await settle(pilot, lambda: "waiting for the model" in status_text(pilot))
        clock.now = 103.2
        await settle(pilot, lambda: "3.2 s" in status_text(pilot))

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_the_status_line_after_the_turn(snap_compare, workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                        clock: PinnedClock, size: tuple[int, int]) -> None:
    """The turn was answered 4.1 s after Enter.

    Must be visible: "hello" and the reply "Hi! How can I help?"; the status line's first row
    "✓ answered in 4.1 s" in the success colour and what the turn used, "this turn 14 tokens, $0" (the
    scripted server's count; its model has no price), its second row "mode auto-edit (ctrl+t) · chat: 14 tokens,
    $0 in all · openai/scripted" (what the whole conversation cost); no "Cancel reply" in the footer any more.
    """
    llm_env.add(Reply(text="Hi! How can I help?", delay=0.5))

    async def run_before(pilot: Pilot) -> None:
        await send(pilot, "hello")
        await settle(pilot, lambda: "waiting for the model" in status_text(pilot))
        clock.now = 104.1
        await settle(pilot, lambda: not pilot.app.screen.replying and "answered" in status_text(pilot))
        await settle(pilot, lambda: "· chat: 14 tokens, $0 in all ·" in status_text(pilot))
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(quiet_app(workspace), terminal_size=size, run_before=run_before)
