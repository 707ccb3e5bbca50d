"""Background agents cannot ask inline: their asks become questions of kind `approval` for the person.

The asking task waits in `awaiting_answer` with its time limit paused (as for any blocking question) and goes
on with the decision, given from the TUI (F2) or `oboto questions answer ID allow|always|deny [REASON]`.
"""

from __future__ import annotations

from oboto.agent.approvals import ApprovalAnswer, ApprovalRequest
from oboto.agent.tools.base import ToolContext
from oboto.agent.tools.loop import suspended_deadline
from oboto.core.audit import audit_arguments
from oboto.services.question_models import ApprovalDetails, parse_approval_answer
from oboto.services.questions import QuestionBroker

MAX_PREVIEW_CHARS = 20_000


class QuestionApprover:
    """Answers one background agent's asks through persisted approval questions."""

    def __init__(self, questions: QuestionBroker, ctx: ToolContext) -> None:
        self.questions = questions
        self.ctx = ctx

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        preview = request.preview
        if preview and len(preview) > MAX_PREVIEW_CHARS:
            preview = preview[:MAX_PREVIEW_CHARS] + "\n… (the rest of the diff is not shown)\n"
        details = ApprovalDetails(tool=request.tool, tier=request.tier, subject=request.subject,
                                  arguments=audit_arguments(request.arguments), why=request.why, preview=preview,
                                  summary=request.summary())
        text = f"May it run {request.summary()}? ({request.tier} tool; {request.why})"
        with suspended_deadline(self.ctx.extra.get("deadline")):
            answer = await self.questions.ask(text, task_id=self.ctx.task_id, origin=self.ctx.origin,
                                              approval=details)
        parsed = parse_approval_answer(answer)
        if parsed is None:  # the broker refuses such answers; a hand-edited file could still hold one
            return ApprovalAnswer("deny", f"the answer {answer!r} was not allow, always or deny")
        verdict, reason = parsed
        return ApprovalAnswer(verdict, reason)
