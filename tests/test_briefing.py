"""The briefing packet: a pure function of its inputs with every section SPEC §4 lists, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from oboto.agent.briefing import (
    BriefingInputs,
    ChatEntry,
    QuestionEntry,
    ScheduleEntry,
    TaskEntry,
    build_briefing,
    last_exchanges,
)

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=timezone.utc)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def chat_history() -> tuple[ChatEntry, ...]:
    """Five exchanges; the last reply is long, and tool traffic is mixed in."""
    entries: list[ChatEntry] = [ChatEntry("system", "Background task t-00000000 completed", ago(4000),
                                          author="tasks", marker="task-notice")]
    for number in range(1, 6):
        entries.append(ChatEntry("user", f"question number {number}", ago(3000 - number * 100)))
        entries.append(ChatEntry("assistant", "", ago(2990 - number * 100)))  # a reply that only called tools
        entries.append(ChatEntry("tool", f"tool output {number}", ago(2980 - number * 100)))
        entries.append(ChatEntry("assistant", f"answer number {number}", ago(2970 - number * 100)))
    entries.append(ChatEntry("assistant", "L" * 299 + "XY" + " tail that must not appear", ago(60)))
    entries.append(ChatEntry("system", "I tidied the\nREADME.", ago(30), author="agent-loop",
                             marker="background-agent"))
    return tuple(entries)


def full_inputs(**changes: object) -> BriefingInputs:
    inputs = BriefingInputs(
        invocation=7,
        now=NOW,
        interval_seconds=180,
        persona="You are oboto, a careful agent.",
        workspace="/home/ada/project",
        foreground_busy=False,
        idle_seconds=42.4,
        chat=chat_history(),
        schedules=(
            ScheduleEntry(id="s-11111111", name="nightly tests", status="active", interval_seconds=1800,
                          last_run_at=ago(600), next_run_at=NOW + timedelta(seconds=1200), run_count=12,
                          last_result="all 311 tests passed"),
            ScheduleEntry(id="s-22222222", name="dependency audit", status="paused", cron="0 9 * * 1",
                          run_count=5, paused_reason="5 consecutive failures"),
        ),
        running_tasks=(TaskEntry(id="t-aaaaaaaa", description="index the docs", status="running", origin="user",
                                 started_at=ago(90)),),
        finished_tasks=(TaskEntry(id="t-bbbbbbbb", description="fix lint", status="failed", origin="agent",
                                  started_at=ago(400), finished_at=ago(300), outcome="ruff not installed"),),
        goals=("keep the test suite green",),
        memories=("the person prefers small commits",),
        questions=(
            QuestionEntry(id="q-cccccccc", question="Which database?", status="answered", answer="postgres",
                          answered_at=ago(120)),
            QuestionEntry(id="q-dddddddd", question="Deploy on Friday?", status="open"),
        ),
    )
    return replace(inputs, **changes)


def test_every_section_is_present_in_order() -> None:
    text = build_briefing(full_inputs())
    headings = [line for line in text.splitlines() if line.startswith("#") and not line.startswith("###")]
    assert headings == [
        "# Agent loop briefing — invocation 7",
        "## Persona",
        "## Current state",
        "## Recent chat (last 3 exchanges)",
        "## Schedules",
        "## Background tasks",
        "## Memories for the current goals",
        "## Answers to earlier blocking questions",
        "## Directive",
        "## Guard",
    ]


def test_header_state_and_persona_lines() -> None:
    lines = build_briefing(full_inputs()).splitlines()
    for expected in [
        "- Time: 2025-03-04 12:00:00 UTC",
        "- Interval: every 3 min",
        "You are oboto, a careful agent.",
        "- Workspace: /home/ada/project",
        "- Foreground: idle",
        "- The person last did something: 42 s ago",
    ]:
        assert expected in lines


def test_exactly_the_last_three_exchanges_without_tool_traffic() -> None:
    text = build_briefing(full_inputs())
    assert "question number 2" not in text and "answer number 2" not in text
    assert "task-notice" not in text  # the notice before the first exchange is older than the last three
    for number in (3, 4, 5):
        assert f"question number {number}" in text
        assert f"answer number {number}" in text
    assert "tool output" not in text
    assert ["### Exchange 1", "### Exchange 2", "### Exchange 3"] == [
        line for line in text.splitlines() if line.startswith("### Exchange")
    ]
    exchanges = last_exchanges(full_inputs().chat)
    assert [exchange[0].content for exchange in exchanges] == ["question number 3", "question number 4",
                                                                "question number 5"]
    assert exchanges[-1][-1].marker == "background-agent"


def test_each_chat_message_is_cut_to_300_characters() -> None:
    text = build_briefing(full_inputs())
    assert "L" * 299 + "X…" in text
    assert "XY" not in text and "tail that must not appear" not in text
    assert "- background-agent from agent-loop (2025-03-04 11:59 UTC): I tidied the README." in text


def test_schedules_tasks_memories_and_questions() -> None:
    lines = build_briefing(full_inputs()).splitlines()
    assert ("- nightly tests (s-11111111): active, every 30 min; last run: 2025-03-04 11:50 UTC (10 min ago); "
            "runs: 12; next run: 2025-03-04 12:20 UTC (20 min from now); last result: all 311 tests passed") in lines
    assert ('- dependency audit (s-22222222): paused, cron "0 9 * * 1"; last run: never; runs: 5; '
            "paused because: 5 consecutive failures") in lines
    assert "- t-aaaaaaaa [running] index the docs (user, started 2025-03-04 11:58 UTC (1 min 30 s ago))" in lines
    assert ("- t-bbbbbbbb [failed] fix lint (agent, finished 2025-03-04 11:55 UTC (5 min ago)) — "
            "ruff not installed") in lines
    assert "- keep the test suite green" in lines
    assert "- the person prefers small commits" in lines
    assert "- q-cccccccc: Which database? → answered (2025-03-04 11:58 UTC (2 min ago)): postgres" in lines
    assert "- q-dddddddd: Deploy on Friday? → still waiting for an answer" in lines


def test_directive_names_the_four_steps_and_the_question_tool() -> None:
    text = build_briefing(full_inputs())
    directive = text.split("## Directive", 1)[1].split("## Guard", 1)[0]
    for step in ("1. Observe", "2. Orient", "3. Decide", "4. Act"):
        assert step in directive
    assert "ask_blocking_question only when you are truly stuck" in directive


def test_guard_says_whether_the_foreground_is_busy_now() -> None:
    idle = build_briefing(full_inputs()).split("## Guard", 1)[1]
    busy_text = build_briefing(full_inputs(foreground_busy=True))
    busy = busy_text.split("## Guard", 1)[1]
    assert "read-only tools" in idle and "The foreground is idle right now" in idle
    assert "The foreground is busy right now: you have read-only tools" in busy
    assert "- Foreground: busy (the person's own turn is running)" in busy_text


def test_empty_workspace_says_none_everywhere() -> None:
    text = build_briefing(BriefingInputs(invocation=1, now=NOW, interval_seconds=10, persona="p", workspace="/w",
                                         foreground_busy=False, idle_seconds=None))
    for expected in ["No messages in chat yet.", "No recurring tasks.", "### Running\nnone",
                     "### Recently finished\nnone", "No goals set.", "Top memories:\nnone yet",
                     "## Answers to earlier blocking questions\n\nnone",
                     "- The person last did something: no activity recorded yet", "- Interval: every 10 s"]:
        assert expected in text


def test_output_is_deterministic() -> None:
    first = build_briefing(full_inputs())
    assert build_briefing(full_inputs()) == first
    assert build_briefing(full_inputs(invocation=8)) != first
    assert "- The person last did something: 185 s ago (3 min 5 s)" in build_briefing(full_inputs(idle_seconds=185))
    # The same moment in another time zone renders identically: nothing depends on the machine's zone.
    other_zone = NOW.astimezone(timezone(timedelta(hours=5)))
    assert build_briefing(full_inputs(now=other_zone)) == first
