"""Slash commands typed where a prompt goes (the TUI's input, `oboto run "/cost"`): one registry for both.

A line is a command when it starts with `/` and a name (`/model gpt-4o`); `/etc/hosts is broken` is not one,
it goes to the model. An unknown command is an error for the person and is never sent to the model. A custom
command (`.oboto/commands/<name>.md`) expands into a prompt, which the caller sends as the person's turn.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oboto.core.errors import RequestRefused
from oboto.core.permissions import MODE_DESCRIPTIONS, MODES, RuleError, check_mode
from oboto.llm.types import Usage
from oboto.services.checkpoints import ChangeError, UndoResult
from oboto.services.custom_commands import CustomCommands

if TYPE_CHECKING:
    from oboto.services.runtime import Runtime

_COMMAND = re.compile(r"/([a-z][a-z0-9_-]*)(?:\s+(.*))?", re.DOTALL | re.IGNORECASE)
DEFAULT_WORD = "default"
"""`/model default`, `/agent default`: back to what the conversation uses when it names none."""


@dataclass(frozen=True)
class SlashCompletion:
    """One candidate for tab completion (and a line of /help)."""

    name: str
    usage: str
    description: str
    custom: bool = False


@dataclass(frozen=True)
class SlashOutcome:
    """What a command did, in words for the person; `prompt`: send it as the person's turn."""

    text: str
    ok: bool = True
    prompt: str | None = None
    bad_input: bool = False
    """The command was mistyped or refused its arguments (`oboto run` exits 2)."""


def _failed(text: str) -> SlashOutcome:
    return SlashOutcome(text, ok=False)


def _bad(text: str) -> SlashOutcome:
    return SlashOutcome(text, ok=False, bad_input=True)


@dataclass(frozen=True)
class _BuiltIn:
    usage: str
    description: str
    run: Callable[[str, str], Awaitable[SlashOutcome]]


class SlashCommands:
    """The built-in commands and the workspace's custom ones, run against one conversation at a time."""

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self._builtins: dict[str, _BuiltIn] = {
            "help": _BuiltIn("/help", "list the commands", self._help),
            "model": _BuiltIn("/model [NAME|default]", "show or switch this conversation's model", self._model),
            "mode": _BuiltIn("/mode [MODE]", "show or switch the permission mode", self._mode),
            "compact": _BuiltIn("/compact", "summarise older exchanges to free the model's context", self._compact),
            "cost": _BuiltIn("/cost", "tokens and cost of this conversation and its last turn", self._cost),
            "clear": _BuiltIn("/clear", "start a fresh context (the history stays)", self._clear),
            "agent": _BuiltIn("/agent [NAME|default]", "show or switch the agent that answers here", self._agent),
            "undo": _BuiltIn("/undo [ID] [--force]", "undo this conversation's latest change to files", self._undo),
            "redo": _BuiltIn("/redo [--force]", "take this conversation's latest undo back", self._redo),
            "diff": _BuiltIn("/diff [ID]", "the diff of this conversation's latest change (or change ID)", self._diff),
        }
        self.custom = CustomCommands(runtime.paths.commands_dir, frozenset(self._builtins))

    @staticmethod
    def parse(text: str) -> tuple[str, str] | None:
        """(the command's name, what follows it) when `text` is a slash command (never sent to the model as it
        is), else None: a word right after the slash, then a space or the end."""
        match = _COMMAND.fullmatch(text.strip())
        return None if match is None else (match.group(1).lower(), (match.group(2) or "").strip())

    @classmethod
    def is_command(cls, text: str) -> bool:
        return cls.parse(text) is not None

    def completions(self, prefix: str = "") -> list[SlashCompletion]:
        """The commands whose name starts with `prefix` (with or without its `/`), built-in ones first."""
        wanted = prefix.strip().lstrip("/").lower()
        found = [SlashCompletion(name, command.usage, command.description)
                 for name, command in self._builtins.items() if name.startswith(wanted)]
        for name, custom in sorted(self.custom.catalog().commands.items()):
            if name.startswith(wanted):
                usage = f"/{name}" + (f" {custom.argument_hint}" if custom.argument_hint else "")
                found.append(SlashCompletion(name, usage, custom.description, custom=True))
        return found

    @property
    def problems(self) -> list[str]:
        """Custom command files that cannot be used, each with why."""
        return list(self.custom.catalog().problems)

    async def run(self, conversation: str, text: str) -> SlashOutcome:
        """Run the command in `text` for `conversation`; never raises for what the person typed."""
        parsed = self.parse(text)
        if parsed is None:
            return _bad(f"{text.strip()[:40]!r} is not a command; /help lists them")
        name, arguments = parsed
        if builtin := self._builtins.get(name):
            try:
                return await builtin.run(conversation, arguments)
            except RequestRefused as refusal:
                return _failed(str(refusal))
        if custom := self.custom.catalog().commands.get(name):
            return SlashOutcome(f"/{name} → sent as a prompt", prompt=custom.expand(arguments))
        return _bad(f"unknown command /{name}; /help lists the commands")

    # ----- the built-in commands -------------------------------------------------------------------

    async def _help(self, conversation: str, arguments: str) -> SlashOutcome:
        lines = ["Commands (type them where a prompt goes):"]
        lines += [f"  {item.usage:<26} {item.description}" for item in self.completions() if not item.custom]
        custom = [item for item in self.completions() if item.custom]
        if custom:
            lines += ["", f"Custom commands ({self.runtime.paths.commands_dir}):"]
            lines += [f"  {item.usage:<26} {item.description}" for item in custom]
        if problems := self.problems:
            lines += ["", "Custom command files left out:"] + [f"  {problem}" for problem in problems]
        return SlashOutcome("\n".join(lines))

    async def _model(self, conversation: str, arguments: str) -> SlashOutcome:
        runtime = self.runtime
        if arguments:
            chosen = None if arguments.lower() == DEFAULT_WORD else arguments
            if chosen is not None and (problem := await asyncio.to_thread(runtime.model_problem, chosen)):
                return _bad(f"cannot use {chosen}: {problem}")
            runtime.conversations.set_model(conversation, chosen)
        profile = runtime.conversation_profile(conversation)
        model = await asyncio.to_thread(runtime.conversation_model, conversation, profile)
        if model is None:
            return _failed("No model is configured: set OBOTO_MODEL, or /model NAME for this conversation.")
        if runtime.conversations.info(conversation).model:
            where = "this conversation's own; /model default goes back"
        elif profile.model:
            where = f"the {profile.name} agent's"
        else:
            where = runtime.model_choice.reason
        budget = await asyncio.to_thread(runtime.context.budget, model)
        verb = "Switched to" if arguments else "Model:"
        return SlashOutcome(f"{verb} {model} ({where}); {budget.describe()}.")

    async def _mode(self, conversation: str, arguments: str) -> SlashOutcome:
        runtime = self.runtime
        if arguments:
            try:
                runtime.set_permission_mode(check_mode(arguments.lower()))
            except RuleError as error:
                return _bad(str(error))
        lines = [f"Permission mode: {runtime.permission_mode} ({MODE_DESCRIPTIONS[runtime.permission_mode]})"
                 + (" — for this session" if arguments else "")]
        lines += [f"  {mode:<10} {MODE_DESCRIPTIONS[mode]}" for mode in MODES if mode != runtime.permission_mode]
        return SlashOutcome("\n".join(lines))

    async def _compact(self, conversation: str, arguments: str) -> SlashOutcome:
        return SlashOutcome((await self.runtime.compact(conversation)).describe())

    async def _cost(self, conversation: str, arguments: str) -> SlashOutcome:
        usage = self.runtime.context.usage(conversation)
        return SlashOutcome(f"This conversation: {_usage_text(usage.total)} over {usage.turns} turn(s).\n"
                            f"Last turn: {_usage_text(usage.last_turn)}.")

    async def _clear(self, conversation: str, arguments: str) -> SlashOutcome:
        await self.runtime.clear_context(conversation)
        return SlashOutcome(f"Fresh context in {conversation}: the agent no longer sees the messages before this "
                            "point; they stay in the conversation.")

    async def _agent(self, conversation: str, arguments: str) -> SlashOutcome:
        runtime = self.runtime
        if arguments:
            chosen = None if arguments.lower() == DEFAULT_WORD else runtime.profiles.catalog().check(arguments)
            runtime.conversations.set_agent(conversation, chosen)
        profile = runtime.conversation_profile(conversation)
        verb = "Switched to" if arguments else "Agent:"
        return SlashOutcome(f"{verb} {profile.name} — {profile.description}")

    async def _undo(self, conversation: str, arguments: str) -> SlashOutcome:
        words = arguments.split()
        rest = [word for word in words if word != "--force"]
        if len(rest) > 1:
            return _bad("usage: /undo [ID] [--force]")
        checkpoints = self.runtime.checkpoints
        return _reverted(await asyncio.to_thread(lambda: checkpoints.undo(
            rest[0] if rest else None, conversation=conversation, force="--force" in words, by="/undo")))

    async def _redo(self, conversation: str, arguments: str) -> SlashOutcome:
        if arguments not in ("", "--force"):
            return _bad("usage: /redo [--force]")
        checkpoints = self.runtime.checkpoints
        return _reverted(await asyncio.to_thread(lambda: checkpoints.redo(
            conversation=conversation, force=arguments == "--force", by="/redo")))

    async def _diff(self, conversation: str, arguments: str) -> SlashOutcome:
        if len(arguments.split()) > 1:
            return _bad("usage: /diff [ID]")
        checkpoints = self.runtime.checkpoints

        def read() -> str:
            changes = checkpoints.changes()
            if arguments:
                return checkpoints.diff(arguments, changes=changes)
            mine = [change for change in changes if change.parent is None and change.conversation == conversation]
            if not mine:
                raise ChangeError(f"no change recorded for conversation {conversation}")
            return checkpoints.diff(mine[-1].id, changes=changes)

        return SlashOutcome(await asyncio.to_thread(read) or "The change has no textual diff.")


def _reverted(result: UndoResult) -> SlashOutcome:
    """An undo's or redo's outcome in the words the CLI uses (`UndoResult.headline`)."""
    text = result.headline()
    if result.overwritten:
        text += f"; --force overwrote files changed since: {', '.join(result.overwritten)}"
    if not_restored := result.not_restored():
        text += f"; not restored (never checkpointed): {not_restored}"
    if result.failures:
        return _failed(f"{text}; could not restore: {'; '.join(result.failures)}")
    return SlashOutcome(text)


def _usage_text(usage: Usage) -> str:
    return (f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} in, {usage.completion_tokens:,} out), "
            f"${usage.cost_usd:.4f}")
