"""QuestionBroker: blocking questions from agents to the person, kept in `.oboto/questions.json`.

An agent's question is persisted, shown in `chat`, and the agent waits on a future. Any process may
answer (the TUI, `oboto questions answer`); the answer is persisted and posted into `chat`, and the
runner (where the agent waits) resolves the future when it sees the answered question on disk.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Callable, TypeVar

from oboto.core.errors import RequestRefused
from oboto.core.events import QuestionAnswered, QuestionAsked
from oboto.core.locks import locked
from oboto.core.models import utc_now
from oboto.core.question_rules import MAX_QUESTION_CHARS
from oboto.core.store import load_document, save_document
from oboto.services.question_models import QUESTION_ID_PATTERN, Question, QuestionBook

if TYPE_CHECKING:
    from oboto.services.runtime import Runtime

# A waiting agent re-reads the file this often, so an answer reaches it even if a file-change event is missed.
POLL_SECONDS = 1.0
ANSWER_AUTHOR = "person"

T = TypeVar("T")


class QuestionError(RequestRefused, ValueError):
    """A question or answer that cannot be accepted (unknown id, already answered, empty text)."""


class QuestionBroker:
    """The only writer of `.oboto/questions.json`."""

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.path = runtime.paths.questions
        self.bus = runtime.bus
        self.is_runner = False
        self._waiting: dict[str, asyncio.Future[str]] = {}

    # ----- reading -----------------------------------------------------------------------------

    def _read(self) -> QuestionBook:
        return load_document(self.path, QuestionBook, self.bus) or QuestionBook()

    def _modify(self, change: Callable[[QuestionBook], T]) -> T:
        """Read-modify-write under the file's lock (the CLI and the runner may both be writing)."""
        with locked(self.path):
            book = self._read()
            result = change(book)
            save_document(self.path, book)
        return result

    def list(self, status: str | None = None) -> list[Question]:
        """Questions oldest first, optionally only those with `status` (open, answered, cancelled)."""
        return [question for question in self._read().questions if status is None or question.status == status]

    def open_questions(self) -> list[Question]:
        return self.list("open")

    def get(self, question_id: str) -> Question:
        question = self._read().find(_checked_id(question_id))
        if question is None:
            raise QuestionError(f"no question with id {question_id}; `oboto questions list` shows the open ones")
        return question

    # ----- asking (in the runner, where background agents run) ---------------------------------

    async def ask(self, question: str, *, task_id: str | None = None, origin: str = "agent") -> str:
        """Persist and show `question`, wait for the person's answer and return it.

        While it waits, a loop agent's loop is paused and an asking task is `awaiting_answer`.
        """
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            raise QuestionError("a question cannot be empty")
        if len(text) > MAX_QUESTION_CHARS:
            raise QuestionError(f"a question may be at most {MAX_QUESTION_CHARS} characters; ask something shorter")
        record = Question(question=text, asked_by_task=task_id, origin=origin)
        self._modify(lambda book: book.questions.append(record))
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[record.id] = future
        cancelled = False
        try:
            # Pause first, show second: an answer can then never arrive before the loop is paused for it.
            if origin == "agent-loop":
                self.runtime.agent_loop.pause_for_question(record.id)
            if task_id:
                self.runtime.tasks.set_status(task_id, "awaiting_answer", question_id=record.id)
            self.runtime.conversations.post_notice("chat", _question_notice(record), marker="question",
                                                   author=task_id or origin)
            self.bus.publish(QuestionAsked(question_id=record.id, question=text, task_id=task_id))
            answer = await self._wait(future)
        except asyncio.CancelledError:
            cancelled = True
            self._abandoned(record)
            raise
        finally:
            self._waiting.pop(record.id, None)
            if task_id and not cancelled:
                self.runtime.tasks.set_status(task_id, "running", question_id=None)
        return answer

    async def _wait(self, future: asyncio.Future[str]) -> str:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that coincides with the answer.
            try:
                async with asyncio.timeout(POLL_SECONDS):
                    return await asyncio.shield(future)
            except TimeoutError:
                self.reload()

    def _abandoned(self, record: Question) -> None:
        """The asking agent was cancelled: withdraw its question, unless the runner is only shutting down.

        A runner that stops (or dies) leaves its questions open: they stay answerable, and the answer reaches
        `chat` and the next briefing.
        """
        if not self.runtime.tasks.is_runner:
            return

        def withdraw(book: QuestionBook) -> bool:
            stored = book.find(record.id)
            if stored is None or not stored.is_open:
                return False
            stored.status = "cancelled"
            return True

        if self._modify(withdraw):
            self.runtime.conversations.post_notice(
                "chat", f"Question {record.id} was withdrawn: the agent that asked it was stopped.",
                marker="question-withdrawn", author=record.asked_by_task or record.origin,
            )
            self.runtime.agent_loop.question_answered()

    # ----- answering (any process) ---------------------------------------------------------------

    def answer(self, question_id: str, text: str) -> Question:
        """Record the person's answer, post it into `chat` and hand it to the waiting agent."""
        question_id = _checked_id(question_id)
        answer = text.strip() if isinstance(text, str) else ""
        if not answer:
            raise QuestionError("an answer cannot be empty")

        def record_answer(book: QuestionBook) -> tuple[Question, bool]:
            question = book.find(question_id)
            if question is None:
                raise QuestionError(f"no question with id {question_id}; `oboto questions list` shows the open ones")
            if question.status == "answered":
                raise QuestionError(f"question {question_id} was already answered ({_clip(question.answer or '', 80)})")
            if question.status == "cancelled":
                raise QuestionError(f"question {question_id} was withdrawn: the agent that asked it was stopped")
            question.status, question.answer, question.answered_at = "answered", answer, utc_now()
            return question, any(other.is_open for other in book.questions)

        question, others_open = self._modify(record_answer)
        self.runtime.conversations.post_notice(
            "chat", f"Answer to {question_id} ({_clip(question.question, 200)}):\n\n{answer}",
            marker="answer", author=ANSWER_AUTHOR,
        )
        self.bus.publish(QuestionAnswered(question_id=question_id, answer=answer))
        future = self._waiting.get(question_id)
        if future is not None and not future.done():
            future.set_result(answer)
        if not others_open:
            self.runtime.agent_loop.question_answered()
        return question

    # ----- the runner --------------------------------------------------------------------------

    def reload(self) -> None:
        """Another process changed the file: hand answers to the agents waiting here."""
        book = self._read()
        for question_id, future in list(self._waiting.items()):
            stored = book.find(question_id)
            if future.done() or stored is None:
                continue
            if stored.status == "answered" and stored.answer is not None:
                future.set_result(stored.answer)
            elif stored.status == "cancelled":
                future.set_exception(QuestionError(f"question {question_id} was withdrawn"))
        if self.is_runner and not any(question.is_open for question in book.questions):
            self.runtime.agent_loop.question_answered()

    def start_runner(self) -> None:
        """Questions a dead runner left open stay open and answerable; nothing to recover."""
        self.is_runner = True

    def stop_runner(self) -> None:
        """Stop the waits still going on here; their questions stay open on disk."""
        self.is_runner = False
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()


def _checked_id(question_id: str) -> str:
    cleaned = question_id.strip() if isinstance(question_id, str) else ""
    if not re.fullmatch(QUESTION_ID_PATTERN, cleaned):
        raise QuestionError(f"{question_id!r} is not a question id (they look like q-1a2b3c4d)")
    return cleaned


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _question_notice(question: Question) -> str:
    return (
        f"Question {question.id} from {question.asker} — it is waiting for your answer:\n\n"
        f"{question.question}\n\n"
        f"Answer with `oboto questions answer {question.id} YOUR ANSWER` or in the oboto app."
    )
