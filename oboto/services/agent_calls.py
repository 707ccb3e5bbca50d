"""AgentCalls: a sub-agent run within its caller's turn (`call_agent`), under its profile and never looser rules.

The sub-agent's context is the caller's, made narrower: its profile's tools and prompt, a permission mode no
less strict than the caller's (whatever the profile says), the same person or question to ask, one level deeper.
It is awaited in the caller's tool call, so cancelling the caller's turn cancels it at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from oboto.agent.profiles import AgentProfile
from oboto.agent.prompt import system_prompt
from oboto.agent.tools.base import ToolContext
from oboto.agent.turn import TurnLimits, run_turn
from oboto.core.bus import EventBus
from oboto.core.config import Settings
from oboto.core.errors import RequestRefused
from oboto.core.events import AgentCallFinished
from oboto.core.permissions import stricter_mode
from oboto.llm.types import Usage
from oboto.services.tasks import AgentHost


class AgentCallError(RequestRefused):
    """A call_agent request that cannot be run (too deep, unknown profile)."""


@dataclass(frozen=True)
class AgentAnswer:
    """How a sub-agent's run ended and what it said."""

    agent: str
    status: str
    text: str
    error: str | None = None
    usage: Usage = dataclasses.field(default_factory=Usage)


class AgentCalls:
    """Runs sub-agents for `call_agent`; every run is published (AgentCallFinished) for the agents' statistics."""

    def __init__(self, settings: Settings, bus: EventBus, host: AgentHost) -> None:
        self.settings = settings
        self.bus = bus
        self.host = host

    async def call(self, agent: str, prompt: str, *, caller: ToolContext,
                   timeout_seconds: float | None = None) -> AgentAnswer:
        if caller.depth + 1 > self.settings.tasks.max_depth:
            raise AgentCallError(f"agents may only be nested {self.settings.tasks.max_depth} deep "
                                 "(tasks and calls together); do this work yourself")
        profile = self.host.profiles.get(agent)
        ctx = self._context_for(caller, profile)
        limits = TurnLimits(profile.max_iterations or self.settings.agent.max_iterations,
                            profile.token_budget or self.settings.agent.token_budget, self.settings.agent.repeat_limit)
        limit = timeout_seconds or profile.timeout_seconds or self.settings.tasks.timeout_seconds
        messages = [{"role": "system", "content": system_prompt(ctx)}, {"role": "user", "content": prompt}]
        try:
            async with asyncio.timeout(limit):
                outcome = await run_turn(self.host.llm_for(profile.model), self.host.tools, ctx, messages, limits)
        except TimeoutError:
            answer = AgentAnswer(profile.name, "timed_out", _last_text(messages), f"no answer within {limit:g}s")
        except asyncio.CancelledError:
            self._published(AgentAnswer(profile.name, "cancelled", "", "the caller's turn was cancelled"), caller)
            raise
        else:
            answer = AgentAnswer(profile.name, outcome.status, outcome.final_text, outcome.error, outcome.usage)
        return self._published(answer, caller)

    def _context_for(self, caller: ToolContext, profile: AgentProfile) -> ToolContext:
        assert caller.control is not None
        control = caller.control
        policy = control.policy
        if profile.permission_mode is not None:
            policy = policy.with_mode(stricter_mode(policy.mode, profile.permission_mode))
        return dataclasses.replace(
            caller, profile=profile, depth=caller.depth + 1, control=dataclasses.replace(control, policy=policy),
            extra={},
        )

    def _published(self, answer: AgentAnswer, caller: ToolContext) -> AgentAnswer:
        self.bus.publish(AgentCallFinished(
            agent=answer.agent, status=answer.status, prompt_tokens=answer.usage.prompt_tokens,
            completion_tokens=answer.usage.completion_tokens, cost_usd=answer.usage.cost_usd,
            caller_task_id=caller.task_id, conversation=caller.conversation, error=answer.error,
        ))
        return answer


def _last_text(messages: list[dict[str, Any]]) -> str:
    return next((message.get("content") or "" for message in reversed(messages) if message.get("role") == "assistant"),
                "")
