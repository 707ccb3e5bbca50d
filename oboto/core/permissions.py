"""Permission modes and rules: whether one tool call runs, asks the person, or is refused — decided in code.

Rules look like `tool(pattern)` (or a bare `tool`, matching every call of it). The pattern is matched against
the call's *subject*: the command line for `run_command`, the workspace-relative path for the file tools.
Deny beats ask beats allow, and rules are checked before the mode.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import shlex
from dataclasses import dataclass
from typing import Iterable, Literal, get_args

import pathspec

# Re-exported: every caller but the CLI's parser takes the modes from here, with the rules.
from oboto.core.permission_modes import DEFAULT_MODE as DEFAULT_MODE, MODES as MODES, Mode as Mode

Tier = Literal["read", "write", "exec"]
Verdict = Literal["allow", "ask", "deny"]

TIERS: tuple[Tier, ...] = get_args(Tier)

_MODE_VERDICTS: dict[Mode, dict[Tier, Verdict]] = {
    "read-only": {"read": "allow", "write": "deny", "exec": "deny"},
    "ask": {"read": "allow", "write": "ask", "exec": "ask"},
    "auto-edit": {"read": "allow", "write": "allow", "exec": "ask"},
    "full": {"read": "allow", "write": "allow", "exec": "allow"},
}

MODE_DESCRIPTIONS: dict[Mode, str] = {
    "read-only": "only reading tools run; everything else is refused",
    "ask": "reading runs; changes and commands ask first",
    "auto-edit": "reading and file changes run; commands ask first",
    "full": "everything runs (still inside the workspace, still subject to deny rules)",
}

_RULE = re.compile(r"^\s*(?P<tool>[A-Za-z0-9_*?\-]+)\s*(?:\((?P<pattern>.*)\))?\s*$", re.DOTALL)
# Shell control operators that separate one simple command from the next.
_OPERATORS = frozenset({";", "&&", "||", "|", "&", "|&", ";;", "\n", "(", ")"})
# Where the shell would run code the rule cannot see, an allow rule must not vouch for the command.
_HIDDEN_CODE = re.compile(r"\$\(|`|<\(|>\(")


class RuleError(ValueError):
    """A permission rule that cannot be understood; the message names it and says why."""


def stricter_mode(first: Mode, second: Mode) -> Mode:
    """The mode of the two that lets agents do less (read-only < ask < auto-edit < full)."""
    return min(first, second, key=MODES.index)


def is_mode(value: str) -> bool:
    return value in MODES


def check_mode(value: str) -> Mode:
    if not is_mode(value):
        raise RuleError(f"unknown permission mode {value!r}; use one of: {', '.join(MODES)}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Rule:
    """One `tool(pattern)` rule of one kind (allow, ask or deny)."""

    kind: Verdict
    text: str
    tool: str
    pattern: str | None

    def __str__(self) -> str:
        return f"{self.kind} {self.text}"

    def names(self, tool: str) -> bool:
        return fnmatch.fnmatchcase(tool, self.tool)

    def matches(self, tool: str, subject: str | None, *, command: bool) -> bool:
        if not self.names(tool):
            return False
        if self.pattern is None:
            return True
        if subject is None:
            return False
        if command:
            return fnmatch.fnmatchcase(subject, self.pattern)
        return _path_spec(self.pattern).match_file(subject)


@functools.lru_cache(maxsize=1024)
def _path_spec(pattern: str) -> pathspec.PathSpec:
    """Compiled once per pattern: the gate matches before every call."""
    return pathspec.PathSpec.from_lines("gitwildmatch", [pattern])


def parse_rule(text: str, kind: Verdict) -> Rule:
    """`run_command(pytest *)` → a Rule; a RuleError that names the rule when it cannot be read."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"an empty {kind} rule; write tool or tool(pattern), e.g. run_command(pytest *)")
    match = _RULE.match(text)
    if match is None:
        raise RuleError(f"{kind} rule {text!r} is not tool or tool(pattern), e.g. run_command(pytest *)")
    pattern = match["pattern"]
    if pattern is not None:
        pattern = pattern.strip()
        if not pattern:
            raise RuleError(f"{kind} rule {text!r} has an empty pattern; leave out the brackets to match every call")
        if match["tool"] != "run_command":
            try:
                _path_spec(pattern)
            except Exception as error:  # pathspec raises several types for a bad glob
                raise RuleError(f"{kind} rule {text!r}: the path pattern cannot be read ({error})") from None
    return Rule(kind, text.strip(), match["tool"], pattern)


def parse_rules(allow: Iterable[str] = (), ask: Iterable[str] = (), deny: Iterable[str] = ()) -> list[Rule]:
    """Every rule, or one RuleError listing every bad one."""
    rules: list[Rule] = []
    problems: list[str] = []
    for kind, texts in (("deny", deny), ("ask", ask), ("allow", allow)):
        for text in texts:
            try:
                rules.append(parse_rule(text, kind))  # type: ignore[arg-type]
            except RuleError as error:
                problems.append(str(error))
    if problems:
        raise RuleError("; ".join(problems))
    return rules


def command_parts(command: str) -> list[str] | None:
    """The simple commands of a command line, each with its words joined by single spaces.

    None when the line cannot be split safely (unbalanced quotes) or runs code a rule cannot see
    (`$(…)`, backquotes, process substitution): such a line is never vouched for by an allow rule.
    """
    if _HIDDEN_CODE.search(command):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()\n")
    lexer.whitespace = " \t\r"
    lexer.commenters = ""
    parts: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in _OPERATORS or set(token) <= set(";&|()\n"):
                parts.append([])
            else:
                parts[-1].append(token)
    except ValueError:
        return None
    return [" ".join(words) for words in parts if words]


def escape_pattern(subject: str) -> str:
    """A pattern that matches exactly `subject` (for "allow always" of one command or path)."""
    return re.sub(r"([*?\[\]\\!])", r"[\1]", subject) if subject else subject


@dataclass(frozen=True)
class Decision:
    """What happens to one call and why, in words the audit log and the person both read."""

    verdict: Verdict
    reason: str

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


class PermissionPolicy:
    """A mode plus rules; `decide` is pure and cheap (it runs before every tool call)."""

    def __init__(self, mode: Mode = DEFAULT_MODE, rules: Iterable[Rule] = ()) -> None:
        self.mode = check_mode(mode)
        self.rules = list(rules)

    @classmethod
    def from_texts(cls, mode: str, *, allow: Iterable[str] = (), ask: Iterable[str] = (),
                   deny: Iterable[str] = ()) -> "PermissionPolicy":
        return cls(check_mode(mode), parse_rules(allow, ask, deny))

    def with_mode(self, mode: str) -> "PermissionPolicy":
        return PermissionPolicy(check_mode(mode), self.rules)

    def with_rules(self, rules: Iterable[Rule]) -> "PermissionPolicy":
        return PermissionPolicy(self.mode, [*self.rules, *rules])

    def offers(self, tier: Tier) -> bool:
        """Whether a tool of `tier` is offered to the model at all (read-only mode hides the others)."""
        return _MODE_VERDICTS[self.mode][tier] != "deny"

    def decide(self, tool: str, tier: Tier, subject: str | None, aliases: Iterable[str] = ()) -> Decision:
        """The verdict for one call. `aliases` are other names of the same target (a path as given and as
        resolved through symlinks): deny and ask rules match any name, allow rules must match every one."""
        if self.mode == "read-only" and tier != "read":
            return Decision("deny", f"mode read-only: {tool} is a {tier} tool")
        names = [subject, *aliases] if subject is not None else []
        for kind in ("deny", "ask"):
            for name in names or [None]:
                if rule := self._restricting(kind, tool, name):
                    return Decision(kind, f"rule {rule}")  # type: ignore[arg-type]
        allowing = [self._allowing(tool, name) for name in names or [None]]
        if all(allowing):
            used = list(dict.fromkeys(rule for rules in allowing for rule in rules))
            return Decision("allow", "rule " + ", ".join(str(rule) for rule in used))
        return Decision(_MODE_VERDICTS[self.mode][tier], f"mode {self.mode}")

    def _candidates(self, kind: str, tool: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.kind == kind and rule.names(tool)]

    def _restricting(self, kind: str, tool: str, subject: str | None) -> Rule | None:
        """A deny or ask rule applies to a command line when it matches the line, any simple command in it, or
        any stretch of it (so hiding `rm -rf` behind `echo x;` or `$(…)` does not slip past it)."""
        command = tool == "run_command" and subject is not None
        for rule in self._candidates(kind, tool):
            if rule.pattern is None or rule.matches(tool, subject, command=command):
                return rule
            if command:
                whole = " ".join(subject.split())  # type: ignore[union-attr]
                parts = command_parts(whole) or []
                if any(rule.matches(tool, part, command=True) for part in parts) or fnmatch.fnmatchcase(
                        whole, f"*{rule.pattern}"):
                    return rule
        return None

    def _allowing(self, tool: str, subject: str | None) -> list[Rule]:
        """The allow rules that vouch for the call; for a command line, every simple command in it must be
        matched by one (so `pytest *` never vouches for `pytest; rm -rf .`)."""
        rules = self._candidates("allow", tool)
        if bare := [rule for rule in rules if rule.pattern is None]:
            return bare[:1]
        if subject is None:
            return []
        if tool != "run_command":
            return [rule for rule in rules if rule.matches(tool, subject, command=False)][:1]
        parts = command_parts(subject)
        if not parts:
            return []
        used: list[Rule] = []
        for part in parts:
            rule = next((rule for rule in rules if rule.matches(tool, part, command=True)), None)
            if rule is None:
                return []
            if rule not in used:
                used.append(rule)
        return used
