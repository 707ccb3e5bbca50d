"""Recurring tasks as stored in `.oboto/schedules.json`, their validation, and when they fire next."""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from oboto.core.config import ScheduleNotify
from oboto.core.durations import MAX_SCHEDULE_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, format_duration
from oboto.core.errors import RequestRefused
from oboto.core.models import Document, Record, utc_now

SCHEDULE_ID_PATTERN = r"^s-[0-9a-f]{8}$"
MAX_RUNS = 1_000_000_000
MAX_RECENT_TASKS = 10
FAILURES_BEFORE_PAUSE = 5

ScheduleStatus = Literal["active", "paused"]


class ScheduleError(RequestRefused, ValueError):
    """A schedule request that cannot be done (bad input, unknown id); the message says why."""


def _croniter() -> Any:
    """croniter takes ~20 ms to import; only cron schedules pay for it."""
    from croniter import croniter

    return croniter


def new_schedule_id() -> str:
    return f"s-{secrets.token_hex(4)}"


def check_schedule_id(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(SCHEDULE_ID_PATTERN, value):
        raise ScheduleError(f"{value!r} is not a schedule id (they look like s-1a2b3c4d)")
    return value


def check_interval(value: object) -> float:
    """A valid interval in seconds, or a ScheduleError saying what is wrong with `value`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(f"the interval must be a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ScheduleError(f"the interval must be a finite number of seconds, not {value!r}")
    if seconds <= 0:
        raise ScheduleError(
            f"the interval must be positive (got {seconds:g}); the minimum is {MIN_INTERVAL_SECONDS:g} seconds"
        )
    if seconds < MIN_INTERVAL_SECONDS:
        raise ScheduleError(
            f"the interval {seconds:g} s is too short; the minimum is {MIN_INTERVAL_SECONDS:g} seconds"
        )
    if seconds > MAX_SCHEDULE_INTERVAL_SECONDS:
        raise ScheduleError(f"the interval {seconds:g} s is too long; the maximum is 366 days "
                            f"({MAX_SCHEDULE_INTERVAL_SECONDS:.0f} seconds)")
    return seconds


def check_cron(value: object) -> str:
    """A valid 5-field cron expression (minute hour day-of-month month day-of-week), stripped."""
    if not isinstance(value, str):
        raise ScheduleError(f"cron must be a string like \"*/5 * * * *\", not {value!r}")
    expression = " ".join(value.split())
    if len(expression.split(" ")) != 5:
        raise ScheduleError(
            f"cron {value!r} must have 5 fields: minute hour day-of-month month day-of-week (e.g. \"*/5 * * * *\")"
        )
    try:
        valid = _croniter().is_valid(expression)
    except Exception:  # croniter raises its own errors for some malformed input instead of answering False
        valid = False
    if not valid:
        raise ScheduleError(f"cron {value!r} is not a valid cron expression (e.g. \"*/5 * * * *\", \"0 9 * * 1-5\")")
    return expression


def check_max_runs(value: object) -> int | None:
    if value is None:
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ScheduleError(f"the run limit must be a whole number of runs, not {value!r} (leave it out for none)")
    if value < 1:
        raise ScheduleError(f"the run limit must be 1 or more (got {value!r}); leave it out for no limit")
    if value > MAX_RUNS:
        raise ScheduleError(f"the run limit must be at most {MAX_RUNS} (got {value:g}); leave it out for no limit")
    return int(value)


def check_text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(f"a schedule needs a non-empty {field}")
    return value.strip()


def check_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    tags = list(tags)
    if not all(isinstance(tag, str) and tag.strip() for tag in tags):
        raise ScheduleError(f"tags must be non-empty strings, not {tags!r}")
    return [tag.strip() for tag in tags]


def optional_text(value: str | None) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else value


def describe_validation(error: ValidationError) -> str:
    """The first problem in plain words (our own ScheduleError message when a check raised one)."""
    first = error.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ScheduleError):
        return str(cause)
    where = ".".join(str(part) for part in first["loc"]) or "schedule"
    return f"{where}: {first['msg']}"


class Schedule(Record):
    """One recurring task: what to ask, how often, and how its runs went."""

    id: str = Field(default_factory=new_schedule_id, pattern=SCHEDULE_ID_PATTERN)
    name: str = Field(max_length=200)
    description: str | None = None
    query: str
    interval_seconds: float | None = None
    cron: str | None = None
    """Five fields, evaluated in the machine's local time."""
    max_runs: int | None = None
    skip_if_running: bool = True
    status: ScheduleStatus = "active"
    paused_reason: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    run_count: int = Field(0, ge=0)
    last_task_id: str | None = None
    recent_task_ids: list[str] = Field(default_factory=list)
    last_result: str | None = None
    consecutive_failures: int = Field(0, ge=0)
    tags: list[str] = Field(default_factory=list)
    agent: str | None = None
    """The agent profile each run uses; None: the default agent."""
    notify: ScheduleNotify | None = None
    """Which runs post a notice into `chat` (failures, always, never); None: `[schedules] notify`."""
    trigger_requested_at: datetime | None = None
    """Set by a process that is not the runner to ask the runner for one run now (`trigger_now`)."""

    @field_validator("name", "query", mode="before")
    @classmethod
    def _text(cls, value: object, info: ValidationInfo) -> str:
        return check_text(info.field_name, value)

    @field_validator("interval_seconds", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float | None:
        return None if value is None else check_interval(value)

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: object) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("max_runs", mode="before")
    @classmethod
    def _max_runs(cls, value: object) -> int | None:
        return check_max_runs(value)

    @field_validator("recent_task_ids")
    @classmethod
    def _recent(cls, value: list[str]) -> list[str]:
        return value[-MAX_RECENT_TASKS:]

    @field_validator("created_at", "last_run_at", "next_run_at", "trigger_requested_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # a hand-written time without a zone is read as local time, as a person writing it would mean
        if value is not None and value.tzinfo is None:
            value = value.astimezone()
        return value.astimezone(timezone.utc) if value is not None else None

    @model_validator(mode="after")
    def _one_cadence(self) -> "Schedule":
        if self.interval_seconds is not None and self.cron is not None:
            raise ScheduleError("give either an interval or a cron expression, not both")
        if self.interval_seconds is None and self.cron is None:
            raise ScheduleError(
                f"a schedule needs an interval (at least {MIN_INTERVAL_SECONDS:g} seconds) or a 5-field cron expression"
            )
        return self

    @property
    def cadence(self) -> str:
        """How often it runs, for people: "every 30m" or "cron */5 * * * *"."""
        if self.cron is not None:
            return f"cron {self.cron}"
        return f"every {format_duration(self.interval_seconds or 0)}"

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after `moment` (UTC)."""
        if self.interval_seconds is not None:
            return moment + timedelta(seconds=self.interval_seconds)
        local = _croniter()(self.cron, moment.astimezone()).get_next(datetime)
        return local.astimezone(timezone.utc)

    def summary_line(self) -> str:
        when = self.next_run_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if self.next_run_at else "-"
        runs = f"{self.run_count}/{self.max_runs}" if self.max_runs else str(self.run_count)
        return f"{self.id} [{self.status}] {self.name} ({self.cadence}; runs {runs}; next {when})"


def validated_schedule(data: dict[str, Any]) -> Schedule:
    """A Schedule from `data`, or a ScheduleError naming the first problem."""
    try:
        return Schedule.model_validate(data)
    except ValidationError as error:
        raise ScheduleError(describe_validation(error)) from None


class ScheduleDocument(Document):
    """`.oboto/schedules.json`."""

    schedules: list[Schedule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> "ScheduleDocument":
        seen: set[str] = set()
        for schedule in self.schedules:
            if schedule.id in seen:
                raise ValueError(f"schedule id {schedule.id} appears twice")
            seen.add(schedule.id)
        return self

