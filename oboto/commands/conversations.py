"""`oboto conversations list|show|create|agent|compact|rename|delete`."""

from __future__ import annotations

import argparse
from argparse import Namespace

from oboto.commands.common import (
    EXIT_OK,
    UsageError,
    WorkFailed,
    add_json_flag,
    open_conversations,
    open_runtime,
    positive_int,
    print_json,
    warn,
)
from oboto.commands.warm import run_async

READ_ONLY_ACTIONS = ("list", "show")
"""Actions that only read conversations: they need no Runtime (see `open_conversations`)."""
HELP = "list, show, create, rename, delete or compact conversations, or change a conversation's agent"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="conversations_action", metavar="ACTION", required=True)
    add_json_flag(actions.add_parser("list", help="every conversation with its message count"))
    show = actions.add_parser("show", help="print a conversation")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--tail", type=positive_int, metavar="N", help="only the last N messages")
    add_json_flag(show)
    create = actions.add_parser("create", help="create a child conversation of chat")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--agent", metavar="AGENT", help="the agent profile that answers in it (see `oboto agents list`)")
    add_json_flag(create)
    agent = actions.add_parser("agent", help="show or change the agent profile that answers in a conversation")
    agent.add_argument("name", metavar="NAME")
    agent.add_argument("agent", metavar="AGENT", nargs="?", help="the new agent (leave out to show the current one)")
    add_json_flag(agent)
    compact = actions.add_parser("compact", help="summarise a conversation's older exchanges for the model, "
                                                 "freeing its context (the messages stay in the conversation)")
    compact.add_argument("name", metavar="NAME")
    add_json_flag(compact)
    rename = actions.add_parser("rename", help="rename a conversation (not chat)")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    delete = actions.add_parser("delete", help="delete a conversation (not chat)")
    delete.add_argument("name", metavar="NAME")


def _guard(action):
    from oboto.core.errors import RequestRefused

    try:
        return action()
    except RequestRefused as error:
        raise UsageError(str(error)) from None


def run(args: Namespace) -> int:
    action = args.conversations_action
    if action in READ_ONLY_ACTIONS:
        return _read(open_conversations(args), args)
    runtime = open_runtime(args)
    conversations = runtime.conversations
    if action == "create":
        agent = _guard(lambda: runtime.profiles.catalog().check(args.agent))
        info = _guard(lambda: conversations.create(args.name, agent=agent))
        if args.json:
            print_json(info.model_dump(mode="json"))
        else:
            print(f"created {info.name}" + (f" (agent {info.agent})" if info.agent else ""))
    elif action == "agent":
        if args.agent is None:
            info = _guard(lambda: conversations.info(args.name))
        else:
            agent = _guard(lambda: runtime.profiles.catalog().check(args.agent))
            info = _guard(lambda: conversations.set_agent(args.name, agent))
        if args.json:
            print_json(info.model_dump(mode="json"))
        else:
            print(f"{info.name}: agent {info.agent or 'general (the default)'}")
    elif action == "compact":
        _compact(runtime, _guard(lambda: conversations.info(args.name).name), args.json)
    elif action == "rename":
        new = _guard(lambda: conversations.rename(args.old, args.new))
        print(f"renamed {args.old} to {new}")
    elif action == "delete":
        _guard(lambda: conversations.delete(args.name))
        print(f"deleted {args.name}")
    return EXIT_OK


def _read(conversations, args: Namespace) -> int:
    if args.conversations_action == "list":
        summaries = conversations.list()
        if args.json:
            print_json([summary.to_json() for summary in summaries])
        else:
            for summary in summaries:
                mark = "*" if summary.active else " "
                updated = summary.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
                print(f"{mark} {summary.name:<24} {summary.message_count:>6} messages  updated {updated}")
    else:
        name = _guard(lambda: conversations.info(args.name).name)
        messages = conversations.tail(name, args.tail) if args.tail else conversations.messages(name)
        if args.json:
            print_json([message.model_dump(mode="json", exclude_none=True) for message in messages])
        else:
            for message in messages:
                print(_format_message(message))
    return EXIT_OK


def _compact(runtime, name: str, as_json: bool) -> None:
    from oboto.core.events import TurnWaiting
    from oboto.core.errors import RequestRefused

    runtime.bus.subscribe(lambda event: warn(f"waiting for conversation {name} (busy): a turn is running in it"),
                          TurnWaiting)

    async def compact():
        try:
            return await runtime.compact(name, wait_seconds=runtime.settings.agent.busy_wait_seconds)
        finally:
            await runtime.aclose()

    try:
        done = run_async(compact())
    except RequestRefused as refusal:  # busy, or the model could not write the summary
        raise WorkFailed(str(refusal)) from None
    if as_json:
        print_json({"conversation": name, "compacted_messages": done.messages,
                    "summary_id": done.summary.id if done.summary else None,
                    "tokens_before": done.tokens_before, "tokens_after": done.tokens_after})
    else:
        print(done.describe())


def _format_message(message) -> str:
    when = message.created_at.astimezone().strftime("%H:%M")
    if message.role == "tool":
        head = message.content.splitlines()[0] if message.content else ""
        return f"[{when}] tool {message.name}: {head[:200]}"
    if message.role == "assistant" and message.tool_calls:
        calls = ", ".join(call["function"]["name"] for call in message.tool_calls)
        text = f"{message.content}\n" if message.content else ""
        return f"[{when}] assistant: {text}(calls {calls})"
    label = message.role if message.role != "system" else f"{message.marker or 'notice'}"
    if message.author:
        label += f" from {message.author}"
    suffix = " [interrupted]" if message.status != "complete" else ""
    return f"[{when}] {label}: {message.content}{suffix}"
