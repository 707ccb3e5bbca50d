"""Asking before a tool call: what an approval request holds, who can answer it, and how a call is gated.

The gate runs inside `ToolRegistry.execute` for every call of every agent: the policy decides, an "ask" goes
to the context's approver (the TUI, a terminal, or a persisted question for background agents), and the
outcome is written to the audit log. Nothing here trusts the model to hold back by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

from oboto.core.permissions import Decision, PermissionPolicy, Tier, escape_pattern

AnswerVerdict = Literal["allow", "always", "deny"]
ANSWER_VERDICTS: tuple[AnswerVerdict, ...] = ("allow", "always", "deny")


@dataclass
class ApprovalRequest:
    """One call waiting for the person's yes or no."""

    tool: str
    tier: Tier
    arguments: dict[str, Any]
    subject: str | None
    why: str
    """Why it asks: `mode auto-edit` or `rule ask write_file(*.lock)`."""
    preview: str | None = None
    """What would change: the unified diff of an edit, when there is one."""
    aliases: list[str] = field(default_factory=list)
    """Other names of the same target (a path as resolved through symlinks), checked by the rules too."""
    conversation: str | None = None
    task_id: str | None = None
    origin: str = "foreground"

    def summary(self) -> str:
        """One line a person reads in a prompt or a question list."""
        if self.subject:
            shown = self.subject if len(self.subject) <= 200 else self.subject[:199] + "…"
            return f"{self.tool} {shown}"
        return self.tool

    def always_rule(self) -> str:
        """The allow rule that "always" adds: this exact command or path, or the bare tool."""
        return f"{self.tool}({escape_pattern(self.subject)})" if self.subject else self.tool


@dataclass
class ApprovalAnswer:
    verdict: AnswerVerdict
    reason: str | None = None
    """Why it was denied, passed back to the model."""
    by: str = "the person"


class Approver(Protocol):
    """Whoever can answer an approval request for this agent."""

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer: ...


class Grants(Protocol):
    """Allow rules added by "always" answers, kept per scope (a conversation, a task, a schedule)."""

    def rules(self, scope: str) -> list[str]: ...

    def grant(self, scope: str, rule: str, *, by: str) -> None: ...


@dataclass
class CallControl:
    """What the gate needs for one agent: its policy, who answers asks, where "always" is kept."""

    policy: PermissionPolicy
    approver: Approver | None = None
    grants: Grants | None = None
    scope: str | None = None
    """The grants scope of this agent (`conversation:chat`, `task:t-…`, `schedule:s-…`)."""
    no_approver_hint: str = ""
    """Said when an ask cannot be put to anyone (no terminal): how the person can allow it."""
    granted: list[str] = field(default_factory=list)
    unasked: list[str] = field(default_factory=list)
    """Calls refused because nobody could be asked (so the CLI can tell the person how to allow them)."""

    def effective_policy(self) -> PermissionPolicy:
        texts = [*self.granted, *(self.grants.rules(self.scope) if self.grants and self.scope else [])]
        if not texts:
            return self.policy
        from oboto.core.permissions import parse_rule

        return self.policy.with_rules(parse_rule(text, "allow") for text in dict.fromkeys(texts))


@dataclass
class GateResult:
    """The final word on one call, for the registry and the audit log."""

    allowed: bool
    decision: str
    """allow, deny, ask→allowed or ask→denied."""
    reason: str
    refusal: str | None = None
    """The tool result the model gets when the call does not run."""


async def gate_call(control: CallControl, request: ApprovalRequest,
                    preview: Callable[[], str | None] | None = None) -> GateResult:
    """Decide one call: by rule or mode, or by asking the approver (showing `preview()`, computed only then);
    "always" answers become grants."""
    decision: Decision = control.effective_policy().decide(request.tool, request.tier, request.subject,
                                                          request.aliases)
    if decision.verdict == "allow":
        return GateResult(True, "allow", decision.reason)
    if decision.verdict == "deny":
        return GateResult(False, "deny", decision.reason, refusal=_refusal(request, f"refused ({decision.reason})"))
    request.why = decision.reason
    if control.approver is None:
        control.unasked.append(request.summary())
        hint = f" {control.no_approver_hint}" if control.no_approver_hint else ""
        reason = f"needs approval ({decision.reason}) and nobody can be asked here"
        return GateResult(False, "ask→denied", reason, refusal=_refusal(request, f"not run: it {reason}.{hint}"))
    if preview is not None:
        try:
            request.preview = preview()
        except Exception:  # the call itself will report what is wrong with it
            request.preview = None
    try:
        answer = await control.approver.approve(request)
    except Exception as error:  # e.g. the question was withdrawn: no decision is a refusal, never a crash
        return GateResult(False, "ask→denied", f"no decision ({error})",
                          refusal=_refusal(request, f"not run: no decision was given ({error})"))
    if answer.verdict == "deny":
        said = f": {answer.reason}" if answer.reason else ""
        return GateResult(False, "ask→denied", f"denied by {answer.by}{said}",
                          refusal=_refusal(request, f"denied by {answer.by}{said}"))
    if answer.verdict == "always":
        rule = request.always_rule()
        control.granted.append(rule)
        if control.grants is not None and control.scope:
            control.grants.grant(control.scope, rule, by=answer.by)
        return GateResult(True, "ask→allowed", f"approved always by {answer.by} (allow {rule})")
    return GateResult(True, "ask→allowed", f"approved by {answer.by}")


def _refusal(request: ApprovalRequest, what: str) -> str:
    return (f"{request.tool} was {what.rstrip('.')}. Do not try to get around this with another tool; "
            "say what you wanted to do and why, or do something else.")
