"""Answer a blocking question: F2 from anywhere opens this, type, Enter; the next open question follows."""

from __future__ import annotations

from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from oboto.services.question_models import Question
from oboto.services.questions import QuestionError
from oboto.services.runtime import Runtime
from oboto.tui.widgets.questions_panel import asker
from oboto.tui.workers import run_blocking, running

ANSWER_GROUP = "question-answer"


class QuestionModal(ModalScreen[None]):
    """Shows who asked what; Enter sends the answer (errors inline), Esc leaves the question open."""

    CSS_PATH = "question_modal.tcss"
    BINDINGS = [Binding("escape", "close", "Answer later", id="question-later")]

    def __init__(self, runtime: Runtime, question_id: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.question_id = question_id

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
        self.query_one("#answer", Input).focus()

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
        self.query_one("#question", Static).update(question.question)

    def _heading(self, question: Question) -> str:
        waiting = len(self.runtime.questions.open_questions())
        more = f" · {waiting - 1} more waiting" if waiting > 1 else ""
        return f"⚠ {asker(question)} asks ({question.id}){more}"

    def show_error(self, message: str) -> None:
        error = self.query_one("#question-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    @on(Input.Submitted, "#answer")
    def send(self, event: Input.Submitted) -> None:
        """Send the answer (questions.json is fsynced: in a thread); a refusal shows under the input."""
        event.stop()
        if running(self, ANSWER_GROUP):
            return
        questions, answered, text = self.runtime.questions, self.question_id, event.value

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
