"""QuestionBroker: blocking questions from agents to the person, kept in `.oboto/questions.json`.

An agent's question is persisted, shown in `chat`, and the agent waits on a future. Any process may
answer (the TUI, `oboto questions answer`); the answer is persisted and posted into `chat`, and the
runner (where the agent waits) resolves the future when it sees the answered question on disk.

The broker calls no other service but the conversations it posts into: the loop pausing and resuming and
the asking task's status follow its events (QuestionAsked, QuestionsSettled, QuestionWaitEnded), and a
task that ends while asking withdraws its question through TaskFinished.
"""

from __future__ import annotations

import asyncio
import os
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

from oboto.core.bus import EventBus
from oboto.core.errors import RequestRefused
from oboto.core.events import (
    QuestionAnswered,
    QuestionAsked,
    QuestionsSettled,
    QuestionWaitEnded,
    QuestionWithdrawn,
    TaskFinished,
)
from oboto.core.models import utc_now
from oboto.core.question_rules import MAX_QUESTION_CHARS
from oboto.core.store import DocumentTransaction, document_transaction, load_document
from oboto.services.conversations import ConversationManager
from oboto.services.question_models import (
    QUESTION_ID_PATTERN,
    ApprovalDetails,
    Question,
    QuestionBook,
    parse_approval_answer,
)
from oboto.services.runner import call_in_loop

# A waiting agent re-reads the file this often, so an answer reaches it even if a file-change event is missed.
POLL_SECONDS = 1.0
ANSWER_AUTHOR = "person"


class QuestionError(RequestRefused, ValueError):
    """A question or answer that cannot be accepted (unknown id, already answered, empty text)."""


class QuestionBroker:
    """The only writer of `.oboto/questions.json`."""

    def __init__(self, path: Path, bus: EventBus, conversations: ConversationManager) -> None:
        self.path = path
        self.bus = bus
        self.conversations = conversations
        self.is_runner = False
        self._waiting: dict[str, asyncio.Future[str]] = {}
        bus.subscribe(self._task_finished, TaskFinished)

    # ----- reading -----------------------------------------------------------------------------

    def _read(self) -> QuestionBook:
        return load_document(self.path, QuestionBook, self.bus) or QuestionBook()

    def _transaction(self) -> AbstractContextManager[DocumentTransaction[QuestionBook]]:
        """A change of the file (the CLI and the runner may both be writing it)."""
        return document_transaction(self.path, QuestionBook, self.bus, default=QuestionBook)

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

    async def ask(self, question: str, *, task_id: str | None = None, origin: str = "agent",
                  approval: ApprovalDetails | None = None) -> str:
        """Persist and show `question`, wait for the person's answer and return it.

        While it waits, a loop agent's loop is paused and an asking task is `awaiting_answer`. With `approval`
        it is a question of kind approval, answered with allow, always or deny.
        """
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            raise QuestionError("a question cannot be empty")
        if len(text) > MAX_QUESTION_CHARS:
            raise QuestionError(f"a question may be at most {MAX_QUESTION_CHARS} characters; ask something shorter")
        record = Question(question=text, asked_by_task=task_id, origin=origin,
                          kind="approval" if approval else "question", approval=approval)
        with self._transaction() as tx:
            tx.doc.questions.append(record)
            # Pause first, show second: subscribers run synchronously on publish, so the loop is paused (and the
            # task awaits its answer) before the question is shown and an answer can never arrive first.
            tx.publish(QuestionAsked(question_id=record.id, question=text, task_id=task_id, origin=origin))
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[record.id] = future
        cancelled = False
        try:
            self.conversations.post_notice("chat", _question_notice(record), marker="question",
                                           author=task_id or origin)
            answer = await self._wait(future)
        except asyncio.CancelledError:
            cancelled = True
            if task_id is None:  # no task will end to withdraw it (see _task_finished)
                self._withdraw(lambda question: question.id == record.id)
            raise
        finally:
            self._waiting.pop(record.id, None)
            if not cancelled:
                self.bus.publish(QuestionWaitEnded(question_id=record.id, task_id=task_id))
        return answer

    async def _wait(self, future: asyncio.Future[str]) -> str:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that coincides with the answer.
            try:
                async with asyncio.timeout(POLL_SECONDS):
                    return await asyncio.shield(future)
            except TimeoutError:
                self.reload()

    def _task_finished(self, event: TaskFinished) -> None:
        """A task that ended while asking withdraws its question.

        A runner that stops (or dies) leaves its questions open: its tasks end `interrupted`, the questions stay
        answerable, and the answer reaches `chat` and the next briefing.
        """
        if event.status == "interrupted" or not os.path.lexists(self.path):
            return  # no question was ever asked here: nothing to read at each task's end
        if any(question.is_open and question.asked_by_task == event.task_id for question in self._read().questions):
            self._withdraw(lambda question: question.asked_by_task == event.task_id)

    def _withdraw(self, asked: Callable[[Question], bool]) -> None:
        """Withdraw the open questions `asked` picks, and say so in `chat`."""
        with self._transaction() as tx:
            withdrawn = [question for question in tx.doc.questions if question.is_open and asked(question)]
            for question in withdrawn:
                question.status = "cancelled"
                tx.publish(QuestionWithdrawn(question_id=question.id, task_id=question.asked_by_task))
            if withdrawn and not any(question.is_open for question in tx.doc.questions):
                tx.publish(QuestionsSettled())
        for question in withdrawn:
            self.conversations.post_notice(
                "chat", f"Question {question.id} was withdrawn: the agent that asked it was stopped.",
                marker="question-withdrawn", author=question.asked_by_task or question.origin,
            )

    # ----- answering (any process) ---------------------------------------------------------------

    def answer(self, question_id: str, text: str) -> Question:
        """Record the person's answer, post it into `chat` and hand it to the waiting agent."""
        question_id = _checked_id(question_id)
        answer = text.strip() if isinstance(text, str) else ""
        if not answer:
            raise QuestionError("an answer cannot be empty")

        with self._transaction() as tx:
            question = tx.doc.find(question_id)
            if question is None:
                raise QuestionError(f"no question with id {question_id}; `oboto questions list` shows the open ones")
            if question.status == "answered":
                raise QuestionError(f"question {question_id} was already answered ({_clip(question.answer or '', 80)})")
            if question.status == "cancelled":
                raise QuestionError(f"question {question_id} was withdrawn: the agent that asked it was stopped")
            if question.kind == "approval" and parse_approval_answer(answer) is None:
                raise QuestionError(f"{question_id} asks for approval: answer allow, always or deny "
                                    "(a reason may follow deny)")
            question.status, question.answer, question.answered_at = "answered", answer, utc_now()
            tx.publish(QuestionAnswered(question_id=question_id, answer=answer))
            if not any(other.is_open for other in tx.doc.questions):
                # Delivered synchronously: a loop that paused for questions is playing again when this returns.
                tx.publish(QuestionsSettled())
        self.conversations.post_notice(
            "chat", f"Answer to {question_id} ({_clip(question.question, 200)}):\n\n{answer}",
            marker="answer", author=ANSWER_AUTHOR,
        )
        future = self._waiting.get(question_id)
        if future is not None:

            def hand_over() -> None:
                if not future.done():
                    future.set_result(answer)

            call_in_loop(future.get_loop(), hand_over)
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
            self.bus.publish(QuestionsSettled())

    def start_runner(self) -> None:
        """Questions a dead runner left open stay open and answerable; answers given meanwhile settle them."""
        self.is_runner = True
        self.reload()

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
    if question.kind == "approval":
        return (
            f"Approval {question.id} from {question.asker} — it is waiting for your decision:\n\n"
            f"{question.question}\n\n"
            f"Answer with `oboto questions answer {question.id} allow|always|deny [REASON]` or in the oboto app (F2)."
        )
    return (
        f"Question {question.id} from {question.asker} — it is waiting for your answer:\n\n"
        f"{question.question}\n\n"
        f"Answer with `oboto questions answer {question.id} YOUR ANSWER` or in the oboto app."
    )
