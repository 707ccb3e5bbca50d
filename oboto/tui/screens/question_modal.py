"""Answer a blocking question: F2 from anywhere opens this, type, Enter; the next open question follows."""

from __future__ import annotations

from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, Static

from oboto.services.question_models import Question
from oboto.services.questions import QuestionError
from oboto.services.runtime import Runtime
from oboto.tui.screens.dialog import Dialog
from oboto.tui.widgets.questions_panel import asker
from oboto.tui.workers import run_blocking, running

ANSWER_GROUP = "question-answer"


class QuestionModal(Dialog[None]):
    """Shows who asked what; Enter sends the answer (errors inline), Esc leaves the question open."""

    CSS_PATH = "question_modal.tcss"
    BINDINGS = [
        Binding("escape", "close", "Answer later", id="question-later"),
        Binding("y", "decide('allow')", "Allow", id="approval-question-allow", show=False),
        Binding("a", "decide('always')", "Always", id="approval-question-always", show=False),
        Binding("n", "decide('deny')", "Deny", id="approval-question-deny", show=False),
        Binding("d", "deny_with_reason", "Deny with reason", id="approval-question-reason", show=False),
    ]

    def __init__(self, runtime: Runtime, question_id: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.question_id = question_id
        self.approval = False
        """Whether the shown question asks to allow a call (answered with y / a / n rather than typed)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("", id="asker", markup=False)
            with VerticalScroll(id="question-scroll"):
                yield Static("", id="question", markup=False)
            yield Input(placeholder="Your answer", id="answer")
            yield Static("", id="question-error", markup=False)
            yield Static("", id="question-status", markup=False)
            yield Static("Enter send · Esc answer later", id="question-keys")

    def on_mount(self) -> None:
        self.show_question(self.question_id)

    def show_question(self, question_id: str) -> None:
        """Fill the dialog with `question_id`; if it cannot be read, say so where the question would be."""
        self.question_id = question_id
        self.show_error("")
        try:
            question = self.runtime.questions.get(question_id)
        except QuestionError as error:
            self.query_one("#asker", Label).update("Question unavailable")
            self.query_one("#question", Static).update(str(error))
            return
        self.query_one("#asker", Label).update(self._heading(question))
        self.approval = question.kind == "approval"
        answer = self.query_one("#answer", Input)
        keys = self.query_one("#question-keys", Static)
        if self.approval:
            self.query_one("#question", Static).update(_approval_body(question))
            answer.placeholder = "Why not? (Enter denies with this reason)"
            keys.update("y allow · a always · n deny · d deny with a reason · Esc decide later")
            self.set_focus(None)  # y/a/n are the answer: they must not be typed into the box
        else:
            self.query_one("#question", Static).update(question.question)
            answer.placeholder = "Your answer"
            keys.update("Enter send · Esc answer later")
            answer.focus()

    def _heading(self, question: Question) -> str:
        waiting = len(self.runtime.questions.open_questions())
        more = f" · {waiting - 1} more waiting" if waiting > 1 else ""
        return f"⚠ {asker(question)} asks ({question.id}){more}"

    def show_error(self, message: str) -> None:
        error = self.query_one("#question-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("decide", "deny_with_reason"):
            return self.approval and not self.query_one("#answer", Input).has_focus
        return True

    def action_decide(self, verdict: str) -> None:
        self._send(verdict)

    def action_deny_with_reason(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Submitted, "#answer")
    def send(self, event: Input.Submitted) -> None:
        """Send the answer (questions.json is fsynced: in a thread); a refusal shows under the input."""
        event.stop()
        self._send(f"deny {event.value}".strip() if self.approval else event.value)

    def _send(self, text: str) -> None:
        if running(self, ANSWER_GROUP):
            return
        questions, answered = self.runtime.questions, self.question_id

        def answer() -> list[Question]:
            questions.answer(answered, text)
            return questions.open_questions()

        run_blocking(self, answer, partial(self._answered, answered), what="Answer not sent", group=ANSWER_GROUP,
                     refused=lambda error: self.show_error(str(error)))

    def _answered(self, answered: str, remaining: list[Question]) -> None:
        if not remaining:
            self.app.notify(f"Answer to {answered} sent; the agent goes on.", timeout=4, markup=False)
            self.dismiss(None)
            return
        # More agents are waiting: offer the next question right here rather than making the person press F2 again.
        self.query_one("#answer", Input).clear()
        self.show_question(remaining[0].id)
        status = self.query_one("#question-status", Static)
        status.update(f"✓ Answer to {answered} sent. Next question:")
        status.add_class("-shown")

    def action_close(self) -> None:
        self.dismiss(None)


def _approval_body(question: Question):
    """The call, why it asks, and the diff it would apply (coloured), as one renderable."""
    from rich.console import Group
    from rich.syntax import Syntax
    from rich.text import Text

    parts: list = [Text(question.question)]
    if question.approval and question.approval.preview:
        parts.append(Syntax(question.approval.preview, "diff", theme="ansi_dark", word_wrap=True))
    return Group(*parts)
