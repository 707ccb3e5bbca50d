"""The approval prompt: a tool call waits for the person's yes or no, answerable from the keyboard.

The agent's turn awaits a Future carried by `ApprovalRequested`; this widget resolves it. y allows once,
a allows always (an allow rule for this conversation), n or Esc denies, d denies with a reason for the model.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from oboto.agent.approvals import ApprovalAnswer, ApprovalRequest

PREVIEW_LINES = 400


class ApprovalRequested(Message):
    """An agent of this process asks before a call; answer by resolving `future`."""

    def __init__(self, request: ApprovalRequest, future: asyncio.Future[ApprovalAnswer]) -> None:
        super().__init__()
        self.request = request
        self.future = future


class TuiApprover:
    """Puts each ask in front of the person as a prompt in the conversation and waits for the answer."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        future: asyncio.Future[ApprovalAnswer] = asyncio.get_running_loop().create_future()
        self._post(ApprovalRequested(request, future))
        return await future



class ApprovalPrompt(Vertical, can_focus=True):
    """One pending approval; removes itself when answered or when the asking turn is cancelled."""

    DEFAULT_CSS = """
    ApprovalPrompt {
        height: auto;
        max-height: 60%;
        margin: 0 1;
        padding: 0 1;
        border: heavy $warning;
        background: $panel;
        &:focus-within, &:focus { border: heavy $accent; }
        .approval-title { text-style: bold; color: $text-warning; width: 1fr; }
        .approval-summary { width: 1fr; }
        .approval-preview { height: auto; max-height: 14; margin-top: 1; }
        .approval-reason { display: none; }
        .approval-reason.-shown { display: block; }
        .approval-keys { color: $text-muted; }
    }
    """

    BINDINGS = [
        Binding("y", "answer('allow')", "Allow once", id="approval-allow"),
        Binding("a", "answer('always')", "Always", id="approval-always"),
        Binding("n", "answer('deny')", "Deny", id="approval-deny"),
        Binding("d", "deny_with_reason", "Say why", id="approval-deny-reason"),
        Binding("escape", "answer('deny')", "Deny", id="approval-escape", show=False),
    ]

    def __init__(self, request: ApprovalRequest, future: asyncio.Future[ApprovalAnswer]) -> None:
        super().__init__(classes="approval-prompt")
        self.request = request
        self.future = future

    def compose(self) -> ComposeResult:
        request = self.request
        yield Label(f"⚠ Allow {request.tool}? ({request.tier}; {request.why})", classes="approval-title", markup=False)
        yield Static(request.summary(), classes="approval-summary", markup=False)
        if request.preview:
            with VerticalScroll(classes="approval-preview"):
                lines = request.preview.splitlines()[:PREVIEW_LINES]
                yield Static(Syntax("\n".join(lines), "diff", theme="ansi_dark", word_wrap=True))
        yield Input(placeholder="Why not? (Enter sends the denial, Esc goes back)", classes="approval-reason")
        yield Static("y allow · a always · n deny · d say why",
                     classes="approval-keys", markup=False)

    def on_mount(self) -> None:
        self.future.add_done_callback(lambda _future: self._settled())
        self.focus()
        self.scroll_visible()

    def _settled(self) -> None:
        if self.is_attached:
            self.remove()

    def action_answer(self, verdict: str) -> None:
        self._resolve(ApprovalAnswer(verdict))  # type: ignore[arg-type]

    def action_deny_with_reason(self) -> None:
        reason = self.query_one(".approval-reason", Input)
        reason.add_class("-shown")
        reason.focus()

    @on(Input.Submitted, ".approval-reason")
    def _reason_given(self, event: Input.Submitted) -> None:
        event.stop()
        self._resolve(ApprovalAnswer("deny", event.value.strip() or None))

    def on_key(self, event) -> None:
        # Esc inside the reason box goes back to the prompt instead of denying at once.
        reason = self.query_one(".approval-reason", Input)
        if event.key == "escape" and reason.has_focus:
            event.stop()
            reason.remove_class("-shown")
            reason.clear()
            self.focus()

    def _resolve(self, answer: ApprovalAnswer) -> None:
        if not self.future.done():
            self.future.set_result(answer)
