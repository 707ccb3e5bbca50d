"""Showing an agent turn in a plain terminal: reply text on stdout, activity on stderr."""

from __future__ import annotations

import sys

from oboto.agent.tools.base import ToolResult
from oboto.agent.turn import TurnObserver
from oboto.commands.common import warn
from oboto.llm.types import LLMError, ToolCallRequest


class TerminalObserver(TurnObserver):
    """Reply text to stdout as it streams; tool activity and retries to stderr."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self._line_open = False

    def text_delta(self, delta: str) -> None:
        if self.quiet:
            return
        sys.stdout.write(delta)
        sys.stdout.flush()
        self._line_open = not delta.endswith("\n")

    def reply_restarted(self) -> None:
        self._end_line()
        if not self.quiet:
            warn("the connection dropped mid-reply; retrying from the start")

    def retrying(self, attempt: int, delay: float, error: LLMError) -> None:
        self._end_line()
        warn(f"{error.message} — retrying in {delay:.1f}s (attempt {attempt + 1})")

    def tool_started(self, call: ToolCallRequest) -> None:
        self._end_line()
        if not self.quiet:
            print(f"→ {call.name} {call.arguments[:160]}", file=sys.stderr)

    def tool_finished(self, call: ToolCallRequest, result: ToolResult, duration_ms: float) -> None:
        if not self.quiet and not result.ok:
            print(f"  {result.content[:300]}", file=sys.stderr)

    def _end_line(self) -> None:
        if self._line_open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._line_open = False

    def finish(self) -> None:
        self._end_line()
