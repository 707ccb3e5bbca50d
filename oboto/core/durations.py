"""Durations as people write them ("30m", "90s", "2h", "1d"), read and shown the same way everywhere."""

from __future__ import annotations

import re

from oboto.core.errors import RequestRefused

MIN_INTERVAL_SECONDS = 10.0
"""The shortest interval of a schedule or of the agent loop."""
MAX_SCHEDULE_INTERVAL_SECONDS = 366 * 86400.0
"""A yearly schedule at the most: `now + interval` stays far from where a datetime overflows."""
MAX_LOOP_INTERVAL_SECONDS = 30 * 86400.0
"""Far beyond any useful heartbeat."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(RequestRefused, ValueError):
    """Text that is not a duration; the message shows how to write one."""


def parse_duration(text: str) -> float:
    """Seconds in "30m", "90s", "2h", "1d" or a bare number of seconds like "45" (each caller judges the range)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise DurationError(
            f"{text!r} is not a duration; write a number with an optional unit s, m, h or d (e.g. 90s, 30m, 2h, 1d)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def format_duration(seconds: float) -> str:
    """30m, 2h, 1d, 90s: the largest unit that divides the interval evenly."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
