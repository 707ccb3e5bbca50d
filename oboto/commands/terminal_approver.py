"""Asking the person on a terminal before a tool call: `[y]es / [a]lways / [n]o`, or `--yes` for every ask."""

from __future__ import annotations

import asyncio
import sys

from oboto.agent.approvals import ApprovalAnswer, ApprovalRequest

NO_TERMINAL_HINT = ("To allow it without a terminal, run with --yes (approve every ask), --mode full, "
                    "or add an allow rule under [permissions] in .oboto/config.toml.")
PREVIEW_LINES = 60


class TerminalApprover:
    """Prompts on stderr and reads the answer from stdin, one ask at a time."""

    def __init__(self) -> None:
        self._one_at_a_time = asyncio.Lock()

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        async with self._one_at_a_time:
            return await asyncio.to_thread(self._ask, request)

    def _ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        out = sys.stderr
        out.write(f"\n⚠ {request.summary()}\n  asks first ({request.tier} tool; {request.why})\n")
        if request.preview:
            lines = request.preview.splitlines()
            colour = out.isatty()
            for line in lines[:PREVIEW_LINES]:
                out.write(f"  {_coloured(line) if colour else line}\n")
            if len(lines) > PREVIEW_LINES:
                out.write(f"  … {len(lines) - PREVIEW_LINES} more lines\n")
        while True:
            out.write("Allow? [y]es / [a]lways in this conversation / [n]o: ")
            out.flush()
            line = sys.stdin.readline()
            if not line:
                out.write("\n")
                return ApprovalAnswer("deny", "no answer (end of input)")
            word = line.strip().lower()
            if word in ("y", "yes"):
                return ApprovalAnswer("allow")
            if word in ("a", "always"):
                return ApprovalAnswer("always")
            if word in ("n", "no", ""):
                out.write("Why not? (optional, Enter to skip): ")
                out.flush()
                reason = sys.stdin.readline().strip()
                return ApprovalAnswer("deny", reason or None)
            out.write(f"  {word!r} is not an answer; type y, a or n.\n")


class ApproveEverything:
    """`--yes`: every ask is approved, and the audit log says so."""

    async def approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        return ApprovalAnswer("allow", by="--yes")


def _coloured(line: str) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return f"\x1b[32m{line}\x1b[0m"
    if line.startswith("-") and not line.startswith("---"):
        return f"\x1b[31m{line}\x1b[0m"
    if line.startswith("@@"):
        return f"\x1b[36m{line}\x1b[0m"
    return line
