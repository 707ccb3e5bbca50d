"""AgentStats: per agent profile, how its runs went (`.oboto/agent-stats.json`), for `oboto agents status`.

Kept up to date from events (a background task of the profile finished, a `call_agent` run ended), one small
document change each, so reading the status never scans task records however many there are.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from oboto.agent.profiles import DEFAULT_AGENT
from oboto.core import durable
from oboto.core.bus import EventBus
from oboto.core.events import AgentCallFinished, TaskFinished, WorkspaceWarning
from oboto.core.models import Document, Record, utc_now
from oboto.core.paths import WorkspacePaths
from oboto.core.store import document_transaction, load_document

FAILED_STATUSES = frozenset({"failed", "timed_out", "max_iterations", "budget_exceeded", "repeated_calls"})


class AgentStat(Record):
    """One profile's runs so far: background tasks and synchronous calls together."""

    runs: int = 0
    failures: int = 0
    task_runs: int = 0
    calls: int = 0
    last_run_at: datetime | None = None
    last_status: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class AgentStatsDocument(Document):
    agents: dict[str, AgentStat] = Field(default_factory=dict)


class AgentStats:
    """The only writer of `.oboto/agent-stats.json`."""

    def __init__(self, paths: WorkspacePaths, bus: EventBus) -> None:
        self.path = paths.agent_stats
        self.bus = bus
        bus.subscribe(self._task_finished, TaskFinished)
        bus.subscribe(self._call_finished, AgentCallFinished)

    def all(self) -> dict[str, AgentStat]:
        document = load_document(self.path, AgentStatsDocument, self.bus)
        return dict(document.agents) if document else {}

    def _task_finished(self, event: TaskFinished) -> None:
        if not event.ran:
            return  # cancelled before it started: the profile did no work
        self._record(event.agent or DEFAULT_AGENT, event.status, event.prompt_tokens, event.completion_tokens,
                     event.cost_usd, task=True)

    def _call_finished(self, event: AgentCallFinished) -> None:
        self._record(event.agent, event.status, event.prompt_tokens, event.completion_tokens, event.cost_usd,
                     task=False)

    def _record(self, agent: str, status: str, prompt_tokens: int, completion_tokens: int, cost: float, *,
                task: bool) -> None:
        """Count one run, in the durable writer: the caller (often the event loop) does not wait for it."""
        durable.writer.post(lambda: self._count(agent, status, prompt_tokens, completion_tokens, cost, task=task),
                            self._not_counted)

    def _not_counted(self, failure: BaseException) -> None:
        self.bus.publish(WorkspaceWarning(message=f"a run could not be added to {self.path}: {failure}"))

    def _count(self, agent: str, status: str, prompt_tokens: int, completion_tokens: int, cost: float, *,
               task: bool) -> None:
        with document_transaction(self.path, AgentStatsDocument, self.bus, default=AgentStatsDocument) as tx:
            stat = tx.doc.agents.get(agent) or AgentStat()
            tx.doc.agents[agent] = stat.model_copy(update={
                "runs": stat.runs + 1,
                "failures": stat.failures + (status in FAILED_STATUSES),
                "task_runs": stat.task_runs + task,
                "calls": stat.calls + (not task),
                "last_run_at": utc_now(),
                "last_status": status,
                "prompt_tokens": stat.prompt_tokens + prompt_tokens,
                "completion_tokens": stat.completion_tokens + completion_tokens,
                "cost_usd": stat.cost_usd + cost,
            })
