"""The emergency stop: every task cancelled, every schedule and the loop paused — and `resume` undoes exactly that.

What the stop paused is kept in `.oboto/stop.json`, so a restart resumes nothing and `resume` touches only
what the stop itself paused (a schedule the person had paused before stays paused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from oboto.core.bus import EventBus
from oboto.core.events import EmergencyStopped, EmergencyResumed
from oboto.core.models import Document, utc_now
from oboto.core.store import document_transaction, load_document
from oboto.services.task_models import ACTIVE_STATUSES

if TYPE_CHECKING:
    from oboto.services.agent_loop import AgentLoopController
    from oboto.services.scheduler import SchedulerService
    from oboto.services.tasks import TaskManager

STOP_REASON = "emergency stop"


class StopRecord(Document):
    active: bool = False
    stopped_at: datetime | None = None
    resumed_at: datetime | None = None
    cancelled_tasks: list[str] = Field(default_factory=list)
    paused_schedules: list[str] = Field(default_factory=list)
    paused_loop: bool = False


@dataclass
class StopReport:
    """What one stop or resume did, for the person."""

    tasks: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    loop: bool = False
    already: bool = False
    problems: list[str] = field(default_factory=list)


class EmergencyStop:
    """The only writer of `.oboto/stop.json`; it acts through the other services' own requests."""

    def __init__(self, path: Path, bus: EventBus, tasks: "TaskManager", scheduler: "SchedulerService",
                 loop: "AgentLoopController") -> None:
        self.path = path
        self.bus = bus
        self.tasks = tasks
        self.scheduler = scheduler
        self.loop = loop

    def status(self) -> StopRecord:
        return load_document(self.path, StopRecord, self.bus) or StopRecord()

    def stop(self) -> StopReport:
        """Cancel every queued and running task, pause every active schedule and a playing loop."""
        report = StopReport(already=self.status().active)
        for schedule in self.scheduler.list():
            if schedule.status == "active":
                try:
                    self.scheduler.pause(schedule.id, STOP_REASON)
                    report.schedules.append(schedule.id)
                except Exception as error:  # one refusal must not leave the rest running
                    report.problems.append(f"schedule {schedule.id}: {error}")
        if self.loop.status().state == "playing":
            self.loop.pause(STOP_REASON)
            report.loop = True
        for record in self.tasks.list(ACTIVE_STATUSES):
            try:
                self.tasks.cancel(record.id, reason=STOP_REASON)
                report.tasks.append(record.id)
            except Exception as error:  # a record removed meanwhile: the others still stop
                report.problems.append(f"task {record.id}: {error}")

        with document_transaction(self.path, StopRecord, self.bus, default=StopRecord) as tx:
            stop = tx.doc
            if not stop.active:
                stop.cancelled_tasks, stop.paused_schedules, stop.paused_loop = [], [], False
            stop.active, stop.stopped_at, stop.resumed_at = True, utc_now(), None
            stop.cancelled_tasks = list(dict.fromkeys([*stop.cancelled_tasks, *report.tasks]))
            stop.paused_schedules = list(dict.fromkeys([*stop.paused_schedules, *report.schedules]))
            stop.paused_loop = stop.paused_loop or report.loop
            tx.publish(EmergencyStopped(tasks=len(report.tasks), schedules=len(report.schedules), loop=report.loop))
        return report

    def resume(self) -> StopReport:
        """Resume exactly what the stop paused (and is still paused for it); cancelled tasks stay cancelled."""
        stop = self.status()
        report = StopReport(already=not stop.active)
        if not stop.active:
            return report
        for schedule_id in stop.paused_schedules:
            try:
                schedule = self.scheduler.get(schedule_id)
            except Exception:
                continue  # deleted since
            if schedule.status == "paused" and schedule.paused_reason == STOP_REASON:
                try:
                    self.scheduler.resume(schedule_id)
                    report.schedules.append(schedule_id)
                except Exception as error:
                    report.problems.append(f"schedule {schedule_id}: {error}")
        loop = self.loop.status()
        if stop.paused_loop and loop.state == "paused" and loop.paused_reason == STOP_REASON:
            self.loop.resume()
            report.loop = True

        with document_transaction(self.path, StopRecord, self.bus, default=StopRecord) as tx:
            tx.doc.active, tx.doc.resumed_at = False, utc_now()
            tx.publish(EmergencyResumed(schedules=len(report.schedules), loop=report.loop))
        return report
