"""The audit log (`.oboto/audit.jsonl`): every tool call of every agent, with its permission decision.

One fsynced line per call, rotated like the event log. Arguments are cut and secret-looking fields are
redacted before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from oboto.core.events import Event
from oboto.core.models import utc_now
from oboto.core.rotating_log import RotatingJsonl

MAX_VALUE_CHARS = 300
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential|authorization)", re.IGNORECASE)
Redact = Callable[[str], str]


def cut(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def audit_arguments(arguments: Any, redact: Redact | None = None) -> Any:
    """The arguments as they may be written down: long values cut, secret-named fields and known secrets hidden."""
    if isinstance(arguments, dict):
        return {key: REDACTED if _SECRET_NAME.search(str(key)) else audit_arguments(value, redact)
                for key, value in arguments.items()}
    if isinstance(arguments, list):
        return [audit_arguments(value, redact) for value in arguments[:50]]
    if isinstance(arguments, str):
        return cut(redact(arguments) if redact else arguments)
    if isinstance(arguments, int) and not isinstance(arguments, bool) and not -(2**63) <= arguments < 2**64:
        return cut(str(arguments))  # JSON lines hold 64-bit integers; a bigger one is kept as its digits
    return arguments


@dataclass
class AuditEntry:
    """One tool call: who made it, what it was, what the permission check decided and how it ended."""

    tool: str
    tier: str
    decision: str
    """allow, ask→allowed, ask→denied, deny."""
    reason: str
    arguments: Any = None
    outcome: str = "ok"
    """ok, error, refused, cancelled."""
    duration_ms: float = 0.0
    conversation: str | None = None
    task_id: str | None = None
    schedule_id: str | None = None
    origin: str = "foreground"
    error: str | None = None
    note: str | None = None
    """What else the tool reported for the record, e.g. settings a command changed that were put back."""

    def to_record(self) -> dict[str, Any]:
        record = {"at": utc_now().isoformat(), **self.__dict__}
        record["duration_ms"] = round(self.duration_ms, 2)
        return {key: value for key, value in record.items() if value is not None}


class AuditLog:
    """Appends entries durably; any process may write (O_APPEND keeps lines whole) and read.

    `report` hears of a damaged log: one moved aside before an entry was written, one skipped while reading.
    """

    def __init__(self, path: Path, *, max_bytes: int = 5_000_000, backups: int = 3,
                 report: Callable[[Event], None] | None = None) -> None:
        self._log = RotatingJsonl(path, max_bytes=max_bytes, backups=backups, fsync=True)
        self._report = report

    @property
    def path(self) -> Path:
        return self._log.path

    def write(self, entry: AuditEntry) -> None:
        moved = self._log.append(entry.to_record())
        if moved is not None and self._report is not None:
            self._report(moved)

    def entries(self, *, task_id: str | None = None, conversation: str | None = None,
                since: datetime | None = None, decisions: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Entries oldest first, filtered; `decisions` matches the start of the decision (`denied` finds
        `deny` and `ask→denied`)."""
        wanted = [word.lower() for word in decisions] if decisions else None
        for record in self._log.records(self._report):
            if task_id and record.get("task_id") != task_id:
                continue
            if conversation and record.get("conversation") != conversation:
                continue
            if since and _parse_time(record.get("at")) < since:
                continue
            if wanted and not any(_decision_matches(str(record.get("decision", "")), word) for word in wanted):
                continue
            yield record


def _decision_matches(decision: str, word: str) -> bool:
    decision = decision.lower()
    if word in ("denied", "deny", "refused"):
        return decision == "deny" or decision.endswith("denied")
    if word in ("allowed", "allow"):
        return decision == "allow" or decision.endswith("allowed")
    if word in ("ask", "asked"):
        return decision.startswith("ask")
    return decision == word


def _parse_time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SINCE_SECONDS = 100 * 365 * 86400


def parse_since(text: str) -> datetime:
    """`30m`, `1h`, `2d` (ago) or an ISO time → the earliest time to show; ValueError in plain words."""
    match = _SINCE.match(text or "")
    if match:
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        if seconds > MAX_SINCE_SECONDS:
            raise ValueError(f"{text!r} reaches back more than 100 years")
        return utc_now() - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h, 2d or a time like 2026-12-01T09:00") from None
    return parsed if parsed.tzinfo else parsed.astimezone()
