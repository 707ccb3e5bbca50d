"""A background task's own conversation (`.oboto/tasks/history/<id>.json`), kept so `continue_task` can go on."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from oboto.core.models import Document

INTERRUPTED_RESULT = "Error: the task stopped before this tool call finished."


class TaskHistory(Document):
    """Every message of the task's agent, system prompt first, as sent to the model."""

    messages: list[dict[str, Any]] = Field(default_factory=list)


def settled(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` as a valid sequence for a provider: a tool call left without a result (the task was cancelled
    or timed out mid-call) gets one saying so."""
    answered = {message.get("tool_call_id") for message in messages if message.get("role") == "tool"}
    kept = list(messages)
    for message in reversed(messages):
        if message.get("role") == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                if call.get("id") not in answered:
                    kept.append({"role": "tool", "tool_call_id": call.get("id"),
                                 "name": call.get("function", {}).get("name"), "content": INTERRUPTED_RESULT})
            break
    return kept


def continued_messages(system: dict[str, Any], earlier: list[dict[str, Any]], follow_up: str) -> list[dict[str, Any]]:
    """The next run's messages: today's system prompt, the earlier conversation, then the follow-up."""
    rest = earlier[1:] if earlier and earlier[0].get("role") == "system" else earlier
    return [system, *settled(rest), {"role": "user", "content": follow_up}]
