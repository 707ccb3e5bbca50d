"""The blocking-question banner: hidden while no agent waits, loud (and ringing) when one does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import events
from textual.widgets import Static

from oboto.core.events import Event, MessageAppended, QuestionAnswered, QuestionAsked, QuestionWithdrawn
from oboto.services.question_models import Question
from oboto.services.runtime import Runtime
from oboto.tui.live import follow

if TYPE_CHECKING:
    from textual.notifications import Notification

    from oboto.tui.app import ObotoApp

# The chat notices the QuestionBroker posts; "question-withdrawn" comes without a question event.
QUESTION_MARKERS = {"question", "answer", "question-withdrawn"}
NOTICE_PREVIEW_CHARS = 160
# Three lines of the sidebar; the modal shows the whole question.
BANNER_PREVIEW_CHARS = 90
# Long enough to be seen by someone who stepped away; the toast goes as soon as the question is settled, the banner
# and the title stay until then.
NOTIFY_SECONDS = 120


class QuestionsPanel(Static):
    """"⚠ N question(s) waiting" / "F2 to answer" around the oldest question; the app title carries the count too.

    The headline sits in the border so the 34-column sidebar keeps room for the question itself at 80×24.
    """

    DEFAULT_CSS = """
    QuestionsPanel {
        display: none;
        height: auto;
        max-height: 6;
        padding: 0 1;
        margin-bottom: 1;
        background: $warning;
        color: $background;
        border: heavy $error;
        border-title-color: $background;
        border-title-background: $warning;
        border-title-style: bold;
        border-subtitle-color: $background;
        border-subtitle-background: $warning;
        border-subtitle-style: bold;
    }
    QuestionsPanel.-waiting { display: block; }
    """

    def __init__(self, runtime: Runtime, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.runtime = runtime
        self.open_ids: list[str] = []
        # The toast of each question announced; it starts empty, so questions open at startup are announced too.
        self._announced: dict[str, Notification] = {}

    def on_mount(self) -> None:
        follow(self, events=self._question_event, files=self._files_changed)
        self.reload()

    def _question_event(self, event: Event) -> None:
        if (isinstance(event, (QuestionAsked, QuestionAnswered, QuestionWithdrawn))
                or (isinstance(event, MessageAppended) and event.marker in QUESTION_MARKERS)):
            self.reload()

    def _files_changed(self, changed: frozenset[Path]) -> None:
        if self.runtime.paths.questions in changed:
            self.reload()

    def reload(self) -> None:
        """Re-read the open questions, update the banner and the title, announce any new question."""
        questions = self.runtime.questions.open_questions()
        self.open_ids = [question.id for question in questions]
        self.set_class(bool(questions), "-waiting")
        self.border_title = _headline(len(questions))
        self.border_subtitle = "F2 to answer" if questions else ""
        self.update(_clip(questions[0].question, BANNER_PREVIEW_CHARS) if questions else "")
        self.app.title = _title(self.app.TITLE, len(questions))
        for question in questions:
            if question.id not in self._announced:
                self._announce(question)
        # A question answered or withdrawn takes its "press F2" toast with it.
        for settled in self._announced.keys() - set(self.open_ids):
            cast("ObotoApp", self.app).withdraw_notification(self._announced.pop(settled))

    def _announce(self, question: Question) -> None:
        app = cast("ObotoApp", self.app)
        self._announced[question.id] = app.notify_until_withdrawn(
            _clip(question.question, NOTICE_PREVIEW_CHARS), title=f"⚠ {asker(question)} asks — press F2 to answer",
            severity="warning", timeout=NOTIFY_SECONDS)
        app.bell()

    async def on_click(self, event: events.Click) -> None:
        event.stop()
        await self.app.run_action("answer_question")


def asker(question: Question) -> str:
    """Who asked, at the start of a sentence: "The agent loop (task t-1234abcd)"."""
    return question.asker[:1].upper() + question.asker[1:]


def _headline(open_count: int) -> str:
    return f"⚠ {open_count} question{'' if open_count == 1 else 's'} waiting" if open_count else ""


def _title(base: str, open_count: int) -> str:
    return f"{base} {_headline(open_count)}" if open_count else base


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
