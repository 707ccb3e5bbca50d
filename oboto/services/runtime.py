"""The composition root: one workspace's settings, event bus, services, model client and tools.

Each service is handed only what it uses; services react to each other through the bus (each subscribes
in its constructor), so nothing here depends on the order in which they are built beyond their arguments.
"""

from __future__ import annotations

import asyncio

import os
import threading
from pathlib import Path

from oboto.agent.approvals import Approver, CallControl
from oboto.agent.profiles import AgentProfile, ProfileError, ProfileLibrary
from oboto.agent.tools.base import ToolContext, ToolRegistry
from oboto.agent.tools.deps import ToolDeps
from oboto.agent.turn import ChatModel, TurnObserver, TurnOutcome
from oboto.core.audit import AuditLog
from oboto.core import durable
from oboto.core.bus import EventBus
from oboto.core.config import Settings, load_settings
from oboto.core.events import ModelChosen, PermissionModeChanged, WorkspaceWarning
from oboto.core.paths import WorkspacePaths, user_agents_dir
from oboto.core.permissions import Mode, PermissionPolicy, check_mode, stricter_mode
from oboto.core.watch import WorkspaceWatcher
from oboto.llm.client import NOT_CONFIGURED_MESSAGE, LLMClient
from oboto.llm.preflight import model_problem
from oboto.llm.resolve import LOCAL_SERVER_KEY, ModelChoice, is_local_model, resolve_model, settle_choice
from oboto.services.agent_calls import AgentCalls
from oboto.services.agent_loop import AgentLoopController
from oboto.services.checkpoints import CheckpointService
from oboto.services.agent_stats import AgentStats
from oboto.services.context import Compaction, ConversationContext
from oboto.services.conversation_models import Message
from oboto.services.conversations import ConversationManager
from oboto.services.emergency import EmergencyStop
from oboto.services.foreground import ForegroundActivity
from oboto.services.grants import GrantStore
from oboto.services.input_history import InputHistory
from oboto.services.loop_briefing import LoopBriefing
from oboto.services.mcp import McpHub
from oboto.services.memory import MemoryStore
from oboto.services.model_intro import ModelIntroductions
from oboto.services.questions import QuestionBroker
from oboto.services.retention import Retention
from oboto.services.scheduler import SchedulerService
from oboto.services.task_endings import TaskEndings
from oboto.services.task_models import LOOP_ORIGIN
from oboto.services.tasks import TaskManager
from oboto.services.slash import SlashCommands
from oboto.services.turn_lock import ConversationBusy, TurnLocks


def build_tool_registry() -> ToolRegistry:
    from oboto.agent.tools import file_tools, shell_tools
    from oboto.agent.tools.agents import agent_tools
    from oboto.agent.tools.conversation import conversation_tools
    from oboto.agent.tools.loop import loop_tools
    from oboto.agent.tools.memory import memory_tools
    from oboto.agent.tools.schedules import schedule_tools
    from oboto.agent.tools.tasks import task_tools

    return ToolRegistry([*file_tools(), *shell_tools(), *conversation_tools(), *task_tools(), *schedule_tools(),
                         *loop_tools(), *memory_tools(), *agent_tools()])


class Runtime:
    """Everything one process needs to work on one workspace; built by the CLI, the TUI and tests alike."""

    def __init__(self, paths: WorkspacePaths, settings: Settings, *, warnings: list[str] | None = None,
                 bus: EventBus | None = None, llm: ChatModel | None = None) -> None:
        moved = paths.ensure()
        self.paths = paths
        self.settings = settings
        self.model_choice: ModelChoice = resolve_model(settings, os.environ)
        """The model every agent of this process uses, and why (OBOTO_MODEL, a provider key, a local server or the
        local extra); while `discovery_pending`, `settle_model` may still change it."""
        self._settle_lock = threading.Lock()
        self.warnings = list(warnings or [])
        self.bus = bus or EventBus(paths.events, max_bytes=settings.events.max_bytes, backups=settings.events.backups)
        for event in moved:
            self.bus.publish(event)
        durable.writer.report_to(self.bus)  # a failure of the writer itself is told as a warning
        self.foreground = ForegroundActivity(paths.foreground_lock, self.bus.publish)
        self.watcher = WorkspaceWatcher(paths.state_dir, ignored=(paths.events, paths.audit))
        """The process's one watcher of `.oboto/`: the runner and the TUI listen to it."""
        self.tools = build_tool_registry()
        self.mcp = McpHub(settings.mcp, paths)
        """The MCP servers: started on the first turn that needs their tools, stopped by `aclose`."""
        self.tools.add_source(self.mcp)
        self.profiles = ProfileLibrary([paths.agents_dir, user_agents_dir()])
        """The agent profiles: the workspace's, the person's, then the shipped ones."""
        self._llm = llm
        self._model_clients: dict[str, ChatModel] = {}
        bus = self.bus
        self.conversations = ConversationManager(paths, bus)
        self.context = ConversationContext(self.conversations, settings.llm, bus)
        """What of each conversation the model is given: fitted, compacted, cleared."""
        self.turn_locks = TurnLocks(paths, bus)
        self.checkpoints = CheckpointService(paths, settings.checkpoints, bus)
        self.tasks = TaskManager(paths, settings, bus, self.conversations, self.foreground, agents=self,
                                 checkpoints=self.checkpoints)
        self.memory = MemoryStore(paths, settings, bus)  # opens Chroma on first use, not here
        self.task_endings = TaskEndings(bus, self.tasks, self.conversations, self.memory,
                                        schedule_notify=settings.schedules.notify)
        self.retention = Retention(settings, bus, self.tasks, self.memory)
        """Retires old task records into the archive and prunes old episodes, while this process is the runner."""
        self.questions = QuestionBroker(paths.questions, bus, self.conversations)
        self.scheduler = SchedulerService(paths, bus, self.tasks)
        self.briefing = LoopBriefing(paths.root, settings.agent, self.foreground, self.conversations, self.scheduler,
                                     self.tasks, self.questions, self.memory, self.profiles, settings.loop.agent)
        self.agent_loop = AgentLoopController(paths.agent_loop, settings.loop, bus, self.tasks, self.briefing)
        self.emergency = EmergencyStop(paths.emergency_stop, bus, self.tasks, self.scheduler, self.agent_loop)
        self.audit = AuditLog(paths.audit, max_bytes=settings.events.max_bytes, backups=settings.events.backups,
                              report=bus.publish)
        self.grants = GrantStore(paths.grants, bus)
        self.introductions = ModelIntroductions(paths.model_introductions, bus)
        self.agent_calls = AgentCalls(settings, bus, self)
        self.agent_stats = AgentStats(paths, bus)
        self.input_history = InputHistory(paths.input_history, bus)
        self.policy: PermissionPolicy = settings.permissions.policy()
        """The workspace's permission mode and rules, as configured; background agents work under it."""
        self.permission_mode: Mode = self.policy.mode
        """The mode of this process's own conversations (`--mode`, or switched live in the TUI)."""
        self.slash_commands = SlashCommands(self)
        """The slash commands (built-in and `.oboto/commands/`) for the TUI's input and `oboto run`."""

    @classmethod
    def open(cls, root: str | os.PathLike[str] | Path, *, bus: EventBus | None = None, **overrides: object) -> "Runtime":
        """Open the workspace at `root` with settings from the environment and config files."""
        paths = WorkspacePaths.for_root(root)
        moved = paths.ensure()  # before the settings: config.toml is read from the state folder
        settings, warnings = load_settings(paths, **overrides)
        runtime = cls(paths, settings, warnings=warnings, bus=bus)
        for event in moved:
            runtime.bus.publish(event)
        return runtime

    def settle_model(self) -> ModelChoice:
        """The final model choice: with nothing configured, the local servers are probed first (blocking for up
        to the probe timeout, once per process), so a UI calls this in a worker thread before its first turn."""
        with self._settle_lock:
            if not self.model_choice.discovery_pending:
                return self.model_choice
            self.model_choice = choice = settle_choice(self.model_choice, self.settings)
        self.bus.publish(ModelChosen(model=choice.model, reason=choice.reason))
        return choice

    def introduce_model(self) -> str:
        """Which model answers, in a sentence or two, the first time it is used in this workspace (for a model
        the person did not name, or a small local one); else ""."""
        named = bool(self.settings.model or self.settings.llm.model_path)
        return self.introductions.first_time(self.settle_model(), self.paths.root, named=named)

    @property
    def llm(self) -> ChatModel:
        """The client of the resolved model; creating it imports no model library (the first call does)."""
        if self._llm is None:
            choice = self.settle_model()
            self._llm = self._client(choice.model, choice.api_base)
        return self._llm

    def llm_for(self, model: str | None) -> ChatModel:
        """The client of `model` (any litellm model string, or `local/…`); None: this process's own model."""
        if model is None or model == self.settle_model().model:
            return self.llm
        if model not in self._model_clients:
            self._model_clients[model] = self._client(model, None)
        return self._model_clients[model]

    def _client(self, model: str | None, server: str | None) -> ChatModel:
        """A client for `model`: in-process for `local/…` (a relative GGUF path is inside the workspace), litellm
        for the rest, at `server` with a placeholder key for a discovered local server."""
        if model is not None and is_local_model(model):
            from oboto.llm.local import LocalModelClient

            return LocalModelClient(model, self.settings.llm, base_dir=self.paths.root)
        if server is not None:
            at_server = self.settings.model_copy(update={"model": model, "api_base": server})
            return LLMClient(at_server, log_path=self.paths.logs_dir / "litellm.log", api_key=LOCAL_SERVER_KEY)
        resolved = self.settings.model_copy(update={"model": model})
        return LLMClient(resolved, log_path=self.paths.logs_dir / "litellm.log")

    def mode_under(self, mode: Mode, profile: AgentProfile | None) -> Mode:
        """The permission mode an agent of `profile` works in where `mode` applies: the stricter of the two,
        unless `permissions.profiles_may_loosen` (a profile from a shared repository must not lift the person's
        own mode to `full` unasked)."""
        if profile is None or profile.permission_mode is None:
            return mode
        if self.settings.permissions.profiles_may_loosen:
            return profile.permission_mode
        return stricter_mode(mode, profile.permission_mode)

    def tool_context(self, *, conversation: str | None = None, task_id: str | None = None, depth: int = 0,
                     background: bool = False, read_only: bool = False, origin: str = "foreground",
                     schedule_id: str | None = None, profile: AgentProfile | None = None) -> ToolContext:
        """A context whose calls are checked and audited: the person's own mode and nobody to ask (the caller
        sets an approver) in the foreground; the workspace's mode and approval questions in the background;
        either made stricter by `profile`'s permission_mode, its tools limited to the profile's."""
        ctx = ToolContext(
            paths=self.paths, settings=self.settings, deps=self.tool_deps, conversation=conversation,
            task_id=task_id, depth=depth, background=background, read_only=read_only, origin=origin,
            schedule_id=schedule_id, audit=self.audit, profile=profile,
            control=CallControl(self.policy.with_mode(self.mode_under(self.permission_mode, profile)),
                                grants=self.grants, scope=f"conversation:{conversation or 'chat'}"),
        )
        if background:
            ctx.control = self._background_control(ctx)
        return ctx

    def _background_control(self, ctx: ToolContext) -> CallControl:
        from oboto.services.approvals import QuestionApprover

        if ctx.schedule_id:
            scope = f"schedule:{ctx.schedule_id}"
        else:
            scope = "loop" if ctx.origin == LOOP_ORIGIN else f"task:{ctx.task_id}"
        policy = self.policy.with_mode(self.mode_under(self.policy.mode, ctx.profile))
        if self.settings.permissions.background_ask == "question":
            return CallControl(policy, approver=QuestionApprover(self.questions, ctx), grants=self.grants,
                               scope=scope)
        return CallControl(policy, grants=self.grants, scope=scope, no_approver_hint=(
            'Background agents may not ask here (permissions.background_ask = "deny"); an allow rule under '
            "[permissions] in .oboto/config.toml lets it run."))

    def set_permission_mode(self, mode: str) -> Mode:
        """Switch the mode of this process's own conversations (the TUI's live switch)."""
        self.permission_mode = check_mode(mode)
        self.bus.publish(PermissionModeChanged(mode=self.permission_mode))
        return self.permission_mode

    @property
    def tool_deps(self) -> ToolDeps:
        """The services tools may use; each fits its Protocol in `agent.tools.deps` by shape alone."""
        return ToolDeps(tasks=self.tasks, schedules=self.scheduler, memory=self.memory, questions=self.questions,
                        conversations=self.conversations, events=self.bus, agents=self.agent_calls,
                        loop=self.agent_loop)

    async def chat(self, conversation: str, prompt: str, *, observer: TurnObserver | None = None,
                   approver: Approver | None = None, no_approver_hint: str = "",
                   unasked: list[str] | None = None, wait_seconds: float | None = None) -> TurnOutcome:
        """The person's own turn, once no other turn runs in the conversation (waiting up to `wait_seconds`,
        default `agent.busy_wait_seconds`; status `busy` when it gave up). Marks the foreground busy (for every
        process) while it runs; asks go to `approver` (the TUI's prompt, a terminal), or are refused with
        `no_approver_hint` when there is none (and listed in `unasked`)."""
        from oboto.services.turns import run_conversation_turn

        ctx = self.tool_context(conversation=conversation, profile=self.conversation_profile(conversation))
        assert ctx.control is not None
        ctx.control.approver, ctx.control.no_approver_hint = approver, no_approver_hint
        if unasked is not None:
            ctx.control.unasked = unasked
        wait = self.settings.agent.busy_wait_seconds if wait_seconds is None else wait_seconds
        try:
            async with self.turn_locks.hold(conversation, wait_seconds=wait):
                with self.foreground.turn():
                    return await run_conversation_turn(self, conversation, prompt, observer=observer, ctx=ctx)
        except ConversationBusy as busy:
            return TurnOutcome("busy", "", error=str(busy))

    async def compact(self, conversation: str, *, wait_seconds: float = 0) -> Compaction:
        """Summarise all but the newest exchange of `conversation` for its model (`/compact`); raises
        ConversationBusy while a turn runs in it, CompactionFailed when the model could not summarise."""
        from oboto.services.turns import compact_conversation

        name = self.conversations.info(conversation).name
        async with self.turn_locks.hold(name, wait_seconds=wait_seconds):
            return await compact_conversation(self, name)

    async def clear_context(self, conversation: str) -> Message:
        """Start a fresh context in `conversation` (`/clear`; its history is kept); ConversationBusy while a
        turn runs in it."""
        name = self.conversations.info(conversation).name
        async with self.turn_locks.hold(name, wait_seconds=0):
            return self.context.clear(name)

    def conversation_model(self, conversation: str, profile: AgentProfile | None = None) -> str | None:
        """The model of `conversation`'s turns: its own (`/model`), else its agent's, else this process's (which
        may probe the local servers once: call it off the event loop)."""
        own = self.conversations.info(conversation).model
        return own or (profile.model if profile else None) or self.settle_model().model

    def model_problem(self, model: str | None) -> str | None:
        """Why no call to `model` can succeed (none configured, its key missing, no provider serves it, the local
        model not installed), in plain words; None if nothing is known to be wrong. Imports litellm for a
        litellm model: call it off the event loop."""
        if not model:
            return NOT_CONFIGURED_MESSAGE
        choice = self.settle_model()
        if model == choice.model and choice.discovered:
            return None  # a server found by discovery listed this very model, and is called with a placeholder key
        return model_problem(model, os.environ, api_base=self.settings.api_base, base_dir=self.paths.root)

    def conversation_profile(self, conversation: str) -> AgentProfile:
        """The profile that answers in `conversation`: its own, else the default (also when its own is gone)."""
        chosen = self.conversations.info(conversation).agent
        try:
            return self.profiles.get(chosen)
        except ProfileError as error:
            self.bus.publish(WorkspaceWarning(message=f"conversation {conversation}: {error}; the default agent "
                                                      "answers instead"))
            return self.profiles.get(None)

    async def aclose(self) -> None:
        """Stop what this process started for its agents (the MCP servers)."""
        await self.mcp.aclose()

    # ----- the runner role (see services/runner.py) ---------------------------------------------

    def activate_runner(self) -> None:
        """This process now holds the runner lock: build the task index here (blocking), then recover and execute.
        The Runner instead starts executing first and builds the index in a thread (`start_executing`, then
        `index_built`)."""
        self.start_executing()
        self.tasks.index.rebuild()
        self.index_built()

    def start_executing(self) -> None:
        """Run what is asked from now on (spawns, schedules, answers), while the task index may still be building."""
        self.tasks.start_runner()
        self.questions.start_runner()
        self.scheduler.start_runner()

    def index_built(self) -> None:
        """The task index is built: recover what a dead runner left running, run what was queued, post the notices
        left unposted; the loop and retention, which read the index, start now."""
        self.tasks.recover()
        self.task_endings.start_runner()
        self.agent_loop.start_runner()
        self.retention.start_runner()

    async def deactivate_runner(self, reason: str) -> None:
        await self.retention.stop_runner()
        await self.agent_loop.stop_runner()
        await self.scheduler.stop_runner()
        # Tasks before questions: an agent waiting for an answer then ends `interrupted`, and its question stays open.
        await self.tasks.stop_runner(reason)
        await self.task_endings.stop_runner()
        self.questions.stop_runner()
        await asyncio.to_thread(durable.writer.flush)  # the bookkeeping posted to the writer is on disk too
        self.tasks.index.close()  # nobody feeds it changes any more; the next runner builds it again

    def workspace_changed(self, changed: frozenset[Path]) -> None:
        """Another process wrote a request into `.oboto/`; hand it to the owning service."""
        paths = self.paths
        if records := [path for path in changed if path.parent == paths.tasks_dir]:
            self.tasks.records_changed(records)
            self.task_endings.records_changed()
        if paths.questions in changed:
            self.questions.reload()
        if paths.schedules in changed:
            self.scheduler.reload()
        if paths.agent_loop in changed:
            self.agent_loop.reload()
