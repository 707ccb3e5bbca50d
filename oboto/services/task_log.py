"""A task's output log (`.oboto/tasks/<id>.log`): what its agent said and did, growing live."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Callable

from oboto.agent.tools.base import ToolResult
from oboto.agent.turn import TurnObserver
from oboto.core import durable, safe_open
from oboto.core.bus import EventBus
from oboto.core.events import Event, TaskProgress
from oboto.core.events import TaskOutput as TaskOutputLine
from oboto.core.quarantine import DamagedState, describe_unusable, open_repairing
from oboto.core.text import cut
from oboto.llm.types import LLMError, LLMResponse, ToolCallRequest, Usage

MAX_READ_BYTES = 256_000
TOOL_RESULT_PREVIEW = 400


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


class TaskLogWriter(TurnObserver):
    """Appends the agent's text and tool activity to the log as they happen (readers see it at once)."""

    def __init__(self, path: Path, report: Callable[[Event], None] | None = None) -> None:
        self.path = path
        self._fd, moved = open_repairing(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if moved is not None and report is not None:
            report(moved)
        self._at_line_start = True

    def write(self, text: str) -> None:
        if not text or self._fd < 0:
            return
        os.write(self._fd, text.encode("utf-8", errors="replace"))
        self._at_line_start = text.endswith("\n")

    def line(self, text: str) -> None:
        prefix = "" if self._at_line_start else "\n"
        self.write(f"{prefix}[{_stamp()}] {text}\n")

    def close(self) -> None:
        """Make the log durable and close it (at the commit, when run as a writer job)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            durable.sync_and_close(fd)

    def text_delta(self, delta: str) -> None:
        self.write(delta)

    def reply_restarted(self) -> None:
        self.line("(the connection dropped mid-reply; the model is answering again)")

    def reply_finished(self, response: LLMResponse) -> None:
        if response.text and not self._at_line_start:
            self.write("\n")

    def retrying(self, attempt: int, delay: float, error: LLMError) -> None:
        self.line(f"! {error.message} (retry {attempt} in {delay:.1f}s)")

    def tool_started(self, call: ToolCallRequest) -> None:
        self.line(f"→ {call.name} {call.arguments[:300]}")

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        preview = result.content.strip().replace("\n", "\n    ")
        if len(preview) > TOOL_RESULT_PREVIEW:
            preview = preview[:TOOL_RESULT_PREVIEW] + " …"
        self.line(f"← {'ok' if result.ok else 'error'} ({duration_ms:.0f} ms)\n    {preview}")


OUTPUT_EVENT_CHARS = 500


class PublishingTaskLog(TaskLogWriter):
    """The task's log, which also publishes each line (`task:output`) and how far the agent has got
    (`task:progress`: model calls, tool calls, tokens so far)."""

    def __init__(self, path: Path, bus: EventBus, task_id: str) -> None:
        super().__init__(path, bus.publish)
        self.bus = bus
        self.task_id = task_id
        self.usage = Usage()
        self.model_calls = 0
        self.tool_calls = 0

    def line(self, text: str) -> None:
        super().line(text)
        self.bus.publish(TaskOutputLine(task_id=self.task_id, line=cut(text, OUTPUT_EVENT_CHARS)))

    def reply_finished(self, response: LLMResponse) -> None:
        super().reply_finished(response)
        self.model_calls += 1
        self.usage.add(response.usage)
        if response.text.strip():
            self.bus.publish(TaskOutputLine(task_id=self.task_id, line=cut(response.text, OUTPUT_EVENT_CHARS)))
        self._progress()

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        super().tool_finished(call, result, duration_ms)
        self.tool_calls += 1
        self._progress()

    def _progress(self) -> None:
        self.bus.publish(TaskProgress(task_id=self.task_id, model_calls=self.model_calls, tool_calls=self.tool_calls,
                                      total_tokens=self.usage.total_tokens, cost_usd=self.usage.cost_usd))


@dataclass
class TaskOutput:
    text: str
    offset: int
    """Where the next read should start (bytes), so a follower reads only what is new."""
    size: int


def read_output(path: Path, *, tail: int | None = None, offset: int | None = None) -> TaskOutput:
    """The last `tail` lines, or the bytes from `offset` on (at most 256 KB), or everything (capped).

    A log that is a link (or no file) is refused with DamagedState, never read through.
    """
    try:
        fd = safe_open.open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return TaskOutput("", 0, 0)
    except OSError as error:
        raise DamagedState(f"the task's output log {path} {describe_unusable(error)}; it was not read") from None
    with os.fdopen(fd, "rb") as handle:
        return _read_from(handle, os.fstat(fd).st_size, tail=tail, offset=offset, total=lambda: os.fstat(fd).st_size)


def output_of(log: bytes, *, tail: int | None = None, offset: int | None = None) -> TaskOutput:
    """`read_output` of a log kept in memory (an archived task's)."""
    return _read_from(io.BytesIO(log), len(log), tail=tail, offset=offset, total=lambda: len(log))


def _read_from(handle: BinaryIO, size: int, *, tail: int | None, offset: int | None,
               total: Callable[[], int]) -> TaskOutput:
    if tail is not None:
        data = _tail_bytes(handle, size, tail)
    else:
        start = max(0, min(offset or 0, size))
        if offset is None and size > MAX_READ_BYTES:
            start = size - MAX_READ_BYTES
        handle.seek(start)
        data = handle.read(MAX_READ_BYTES)
        size = start + len(data)
    return TaskOutput(data.decode("utf-8", errors="replace"), size, total())


def _tail_bytes(handle, size: int, lines: int) -> bytes:
    """Read backwards in blocks until `lines` line breaks are found; never reads the whole of a big log."""
    block = 8192
    position = size
    chunks: list[bytes] = []
    newlines = 0
    while position > 0 and newlines <= lines:
        step = min(block, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if data.endswith(b"\n"):
        data = data[:-1]
    kept = data.split(b"\n")[-lines:] if lines > 0 else []
    return b"\n".join(kept) + (b"\n" if kept else b"")


def elapsed_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
