"""The agent loop's persisted state (`.oboto/agent-loop.json`) and the rules for its interval."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import Field

from oboto.core.durations import MAX_LOOP_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from oboto.core.errors import RequestRefused
from oboto.core.models import Document

LoopStateName = Literal["stopped", "playing", "paused"]


class LoopError(RequestRefused, ValueError):
    """A loop request that cannot be done (bad interval, resuming a stopped loop); the message says why."""


def validate_interval(value: object) -> float:
    """The interval as seconds, or LoopError naming what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise LoopError(f"the interval must be a number of seconds, not {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise LoopError(f"the interval must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds):
        raise LoopError(f"the interval must be a finite number of seconds, not {value}")
    if seconds < MIN_INTERVAL_SECONDS:
        raise LoopError(f"the interval must be at least {MIN_INTERVAL_SECONDS:g} seconds, not {seconds:g}")
    if seconds > MAX_LOOP_INTERVAL_SECONDS:
        raise LoopError(f"the interval must be at most {MAX_LOOP_INTERVAL_SECONDS:g} seconds (30 days), "
                        f"not {seconds:g}")
    return seconds


class LoopState(Document):
    state: LoopStateName = "stopped"
    interval_seconds: float = Field(180.0, ge=MIN_INTERVAL_SECONDS, le=MAX_LOOP_INTERVAL_SECONDS, allow_inf_nan=False)
    invocation_count: int = Field(0, ge=0)
    last_tick_at: datetime | None = None
    next_tick_at: datetime | None = None
    """When the next tick is due while playing; None when stopped."""
    paused_reason: str | None = None
    paused_for_question: str | None = None
    """The question the loop paused for; answering the last open question resumes it (a manual pause is kept)."""
    current_task_id: str | None = None
    """The loop's background task while it runs."""
    goals: list[str] = Field(default_factory=list)
    """What the loop is working towards; used to recall memories for the briefing."""
