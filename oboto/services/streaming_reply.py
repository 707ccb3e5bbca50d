"""A reply being streamed into a conversation: persisted as it grows (one message, then the added text), and
published step by step under the id it is stored as."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable

from oboto.core import durable
from oboto.core.events import (
    MessageAppended,
    ReplyFinished,
    ReplyRestarted,
    ReplyRetryScheduled,
    ReplyStarted,
    ReplyTextAppended,
)
from oboto.services.conversation_models import Message, TokenUsage

if TYPE_CHECKING:
    from oboto.services.conversations import ConversationManager

STREAM_FLUSH_SECONDS = 1.0

Writes = Callable[[Callable[[], None]], None]
"""Where a reply's writes are made: at once (the default), or handed in order to the durable writer by a turn."""


def write_now(write: Callable[[], None]) -> None:
    write()


class StreamingReply:
    """A reply being streamed into a conversation, persisted as it grows so a crash keeps what was shown.

    Each step is also published (ReplyStarted, ReplyTextAppended, …, ReplyFinished, keyed by the message id),
    so a view draws the reply live from the same id the store keeps it under.
    """

    def __init__(self, manager: "ConversationManager", conversation: str, *, author: str | None,
                 writes: Writes = write_now) -> None:
        self.manager = manager
        self._write = writes
        self.conversation = conversation
        self.message = Message(role="assistant", status="streaming", author=author, pid=os.getpid())
        self._parts: list[str] = []
        self._stored = ""
        """The text already in the file (a flush appends only what follows it)."""
        self._last_flush = time.monotonic()
        self._persisted = False
        manager._live_streams.add(self.message.id)
        manager.bus.publish(ReplyStarted(conversation=conversation, message_id=self.id, author=author))

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, delta: str) -> None:
        self._parts.append(delta)
        self.manager.bus.publish(ReplyTextAppended(conversation=self.conversation, message_id=self.id, delta=delta))
        if time.monotonic() - self._last_flush >= STREAM_FLUSH_SECONDS:
            self.flush()

    def restart(self) -> None:
        """The model call is being retried: what was streamed so far is discarded."""
        self._parts.clear()
        self.manager.bus.publish(ReplyRestarted(conversation=self.conversation, message_id=self.id))
        if self._persisted:
            self.flush()

    def retry_scheduled(self, attempt: int, delay_seconds: float, reason: str) -> None:
        """The model call failed for a moment; say so (the reply itself is unchanged)."""
        self.manager.bus.publish(ReplyRetryScheduled(conversation=self.conversation, message_id=self.id,
                                                     attempt=attempt, delay_seconds=delay_seconds, reason=reason))

    def flush(self) -> None:
        """Persist what is new since the last flush: the first snapshot once, then only the added text."""
        self._last_flush = time.monotonic()
        text = self.text
        if not self._persisted:
            first = self.message.model_copy(update={"content": text})
            self._write(lambda: self.manager._write_record(self.conversation, first, new=True))
            self._persisted = True
        elif text != self._stored:
            change = self._text_change(text)
            self._write(lambda: self.manager._write_update(self.conversation, self.id, change))
        self._stored = text

    def _text_change(self, text: str) -> dict[str, str]:
        """The update that takes the stored text to `text`: what follows it, or all of it after a restart."""
        if text.startswith(self._stored):
            return {"more": text[len(self._stored):]}
        return {"content": text}

    def finish(self, tool_calls: list[dict[str, Any]] | None = None, *, model: str | None = None,
               usage: TokenUsage | None = None) -> Message:
        final = self.message.model_copy(update={"content": self.text, "status": "complete", "pid": None,
                                                "tool_calls": tool_calls, "model": model, "usage": usage})
        return self._close(final)

    def interrupt(self) -> Message | None:
        """Keep whatever was streamed, marked interrupted; nothing is written when nothing was said."""
        if not self.text and not self._persisted:
            self._write(lambda: durable.after_commit(self._discarded))  # told after what the turn wrote before
            return None
        final = self.message.model_copy(update={"content": self.text, "status": "interrupted", "pid": None})
        return self._close(final)

    def _discarded(self) -> None:
        self.manager._live_streams.discard(self.id)
        self.manager.bus.publish(ReplyFinished(conversation=self.conversation, message_id=self.id,
                                               status="discarded"))

    def _close(self, final: Message) -> Message:
        persisted = self._persisted
        closing = {**final.model_dump(mode="json", include={"status", "pid", "tool_calls", "model", "usage"}),
                   **self._text_change(final.content)}

        def close() -> None:
            if persisted:
                self.manager._write_update(self.conversation, self.id, closing)
            else:
                self.manager._write_record(self.conversation, final, new=True)
            durable.after_commit(lambda: self._closed(final))  # announced once durable

        self._write(close)
        return final

    def _closed(self, final: Message) -> None:
        self.manager._live_streams.discard(self.id)
        bus = self.manager.bus
        bus.publish(MessageAppended(conversation=self.conversation, message_id=final.id, role=final.role,
                                    marker=final.marker))
        bus.publish(ReplyFinished(conversation=self.conversation, message_id=final.id, status=final.status))
