"""A reply streaming into the view: its widget, and the pump that feeds its text to `Markdown.get_stream()`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from textual.widget import AwaitMount
from textual.widgets import Markdown

from oboto.tui.widgets.message_widgets import AssistantMessage


class _Restart:
    """Queue item: the model call is being retried, so what was streamed so far goes."""


@dataclass
class _Finish:
    """Queue item: the reply is over; render `text` in full once (and take the widget away if `discard`)."""

    text: str
    discard: bool = False


@dataclass
class LiveReply:
    """One reply drawn from its events (ReplyStarted … ReplyFinished): its widget and the queue its pump drains."""

    widget: AssistantMessage
    mounted: AwaitMount
    queue: asyncio.Queue[str | _Restart | _Finish] = field(default_factory=asyncio.Queue)
    finished: bool = False

    def write(self, delta: str) -> None:
        self.widget.remove_class("-empty")
        self.queue.put_nowait(delta)

    def restart(self) -> None:
        self.widget.add_class("-empty")
        self.queue.put_nowait(_Restart())

    def finish(self, text: str, *, interrupted: bool = False) -> None:
        """End the stream with one full render of `text` (the stored content); later calls change nothing."""
        if self.finished:
            return
        self.finished = True
        if interrupted:
            self.widget.mark_interrupted()
        self.queue.put_nowait(_Finish(text))

    def discard(self) -> None:
        """The reply was cut off before it said anything and was never stored: it leaves the view."""
        if not self.finished:
            self.finished = True
            self.queue.put_nowait(_Finish("", discard=True))


async def pump_reply(reply: LiveReply) -> None:
    """Feed a reply's deltas to `Markdown.get_stream()`, which batches what it cannot render at once (STYLE 5)."""
    await reply.mounted
    markdown = reply.widget
    stream = Markdown.get_stream(markdown)
    final = _Finish("")
    try:
        while True:
            item = await reply.queue.get()
            if isinstance(item, _Finish):
                final = item
                break
            if isinstance(item, _Restart):
                await stream.stop()
                await markdown.update("")
                stream = Markdown.get_stream(markdown)
            else:
                await stream.write(item)
    finally:
        await stream.stop()
    if final.discard:
        await markdown.remove()
        return
    # One full render at the end: the stream appended blocks piecemeal, this settles the final layout.
    await markdown.update(final.text)
    markdown.set_class(not final.text, "-empty")
