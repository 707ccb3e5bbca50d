"""What the model is given of a conversation: fitted to its context window, compacted into a summary when it
outgrows it, cleared by /clear, and a prompt too long for it refused before anything is sent or stored."""

from __future__ import annotations

import orjson
import pytest

from cli_helpers import oboto
from oboto.llm.context import context_budget, count_message_tokens, count_tool_tokens
from oboto.services.context import SUMMARY_HEADING
from oboto.services.conversation_models import COMPACTION_MARKER, Message
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM

WINDOW = 12_000
"""Small enough that a few long exchanges overflow it, large enough for the instructions and tool schemas."""
FILLER = "lorem ipsum dolor sit amet " * 60  # about 300 tokens
SUMMARY = "SUMMARY: the person asked numbered questions and got numbered answers."


def is_summary_request(request: dict) -> bool:
    return request["messages"][0]["content"].startswith("You summarise a conversation")


def last_user_text(request: dict) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


def answer_or_summarise(request: dict) -> Reply:
    if is_summary_request(request):
        return Reply(text=SUMMARY)
    return Reply(text=f"answer to {last_user_text(request)[:12]} {FILLER}")


def request_tokens(request: dict) -> int:
    """The tokens of a request as the scripted server received it, counted as oboto counts them."""
    model = "openai/scripted"
    return (sum(count_message_tokens(model, message) for message in request["messages"])
            + count_tool_tokens(model, request.get("tools")))


@pytest.fixture
def small_window(llm_env: ScriptedLLM, monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    monkeypatch.setenv("OBOTO_LLM__CONTEXT_TOKENS", str(WINDOW))
    llm_env.respond_with(answer_or_summarise)
    return llm_env


def turn_requests(server: ScriptedLLM) -> list[dict]:
    return [request for request in server.requests if not is_summary_request(request)]


async def test_compaction_keeps_the_newest_exchanges_and_the_request_under_budget(workspace, small_window) -> None:
    runtime = Runtime.open(workspace.root)
    for number in range(10):
        outcome = await runtime.chat("chat", f"question {number:02d} {FILLER}")
        assert outcome.ok, outcome.error
    budget = context_budget("openai/scripted", runtime.settings.llm)
    assert budget.window == WINDOW
    last = turn_requests(small_window)[-1]
    sent = "\n".join(str(message["content"]) for message in last["messages"])
    assert request_tokens(last) <= budget.request_tokens, "the request fits the model's budget"
    assert SUMMARY_HEADING in sent and SUMMARY in sent, "older exchanges are given as the model's summary"
    assert "question 09" in last_user_text(last), "the person's prompt is what the model answers"
    assert "question 08" in sent and "answer to question 08" in sent, "the newest exchange is kept verbatim"
    assert "question 00" not in sent, "the oldest exchange is no longer sent"
    summarised = [request for request in small_window.requests if is_summary_request(request)]
    assert summarised and "question 00" in summarised[0]["messages"][1]["content"]
    stored = runtime.conversations.messages("chat")
    assert len([message for message in stored if message.role == "user"]) == 10, "the originals stay on disk"
    summaries = [message for message in stored if message.marker == COMPACTION_MARKER]
    assert summaries and summaries[-1].content == SUMMARY and summaries[-1].compacted_through is not None
    assert summaries[-1].usage is not None and summaries[-1].usage.prompt_tokens > 0


async def test_every_request_of_a_long_conversation_fits(workspace, small_window) -> None:
    runtime = Runtime.open(workspace.root)
    for number in range(14):
        assert (await runtime.chat("chat", f"question {number:02d} {FILLER}")).ok
    budget = context_budget("openai/scripted", runtime.settings.llm)
    assert all(request_tokens(request) <= budget.request_tokens for request in small_window.requests)
    compactions = [m for m in runtime.conversations.messages("chat") if m.marker == COMPACTION_MARKER]
    assert len(compactions) >= 2, "a conversation that keeps growing is compacted again"
    later = [request for request in small_window.requests if is_summary_request(request)][-1]
    assert SUMMARY in later["messages"][1]["content"], "a new summary builds on the previous one"


async def test_a_prompt_over_the_window_is_refused_and_nothing_is_stored(runtime: Runtime, llm_env) -> None:
    outcome = await runtime.chat("chat", "x " * 225_000)
    assert outcome.status == "refused" and not outcome.ok
    assert "too long for openai/scripted" in (outcome.error or "") and "Nothing was sent" in (outcome.error or "")
    assert llm_env.requests == [], "nothing reached the model"
    assert runtime.conversations.messages("chat") == [], "nothing was stored"


def test_the_450000_character_prompt_from_standard_input_exits_2(workspace, llm_env: ScriptedLLM) -> None:
    pasted = "".join(f"2024-05-01 12:00:{n % 60:02d} worker {n} finished job {n * 7}\n" for n in range(8_000))
    pasted = (pasted * 2)[:450_000]
    result = oboto(workspace.root, "run", "-", input=pasted)
    assert result.returncode == 2, result.stderr
    assert "too long for openai/scripted" in result.stderr and "Nothing was sent or stored" in result.stderr
    assert "Traceback" not in result.stderr
    assert llm_env.requests == []
    assert workspace.conversation_file("chat").read_bytes() == b""


def test_a_prompt_from_standard_input_is_answered(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text=f"read {len(last_user_text(request))} characters"))
    piped = "line\n" * 40_000  # 200,000 characters: more than one argument may carry (MAX_ARG_STRLEN is 131,072)
    # no PROMPT and a pipe: the pipe is the prompt (for a model with a window large enough for it)
    result = oboto(workspace.root, "run", input=piped, env={"OBOTO_LLM__CONTEXT_TOKENS": "200000"})
    assert result.returncode == 0, result.stderr
    assert f"read {len(piped)} characters" in result.stdout
    dash = oboto(workspace.root, "run", "-", input="what is 2+2?\n")
    assert dash.returncode == 0 and last_user_text(llm_env.requests[-1]) == "what is 2+2?\n"


def test_empty_standard_input_is_a_usage_error(workspace, llm_env) -> None:
    result = oboto(workspace.root, "run", "-", input="  \n")
    assert result.returncode == 2 and "the prompt is empty" in result.stderr


async def test_compact_keeps_the_newest_exchange_for_the_next_turn(workspace, small_window) -> None:
    runtime = Runtime.open(workspace.root)
    for number in range(3):
        assert (await runtime.chat("chat", f"question {number:02d} short")).ok
    done = await runtime.compact("chat")
    assert done.summary is not None and done.messages == 4, "the two older exchanges (prompt and answer each)"
    assert (await runtime.chat("chat", "question 03 short")).ok
    sent = [message["content"] for message in turn_requests(small_window)[-1]["messages"][1:]]
    assert sent[0] == f"{SUMMARY_HEADING}\n{SUMMARY}"
    assert sent[1] == "question 02 short" and sent[-1] == "question 03 short"
    assert not any("question 00" in text or "question 01" in text for text in sent)


async def test_compact_with_nothing_older_says_so(runtime: Runtime, llm_env) -> None:
    llm_env.add(Reply(text="only answer"))
    assert (await runtime.chat("chat", "only question")).ok
    done = await runtime.compact("chat")
    assert done.summary is None and "Nothing to compact" in done.describe()
    assert len(llm_env.requests) == 1, "no summary was asked for"


def test_conversations_compact_command(workspace, small_window) -> None:
    for number in range(3):
        assert oboto(workspace.root, "run", f"question {number}").returncode == 0
    result = oboto(workspace.root, "conversations", "compact", "chat", "--json")
    assert result.returncode == 0, result.stderr
    done = orjson.loads(result.stdout)
    assert done["compacted_messages"] == 4 and done["summary_id"]
    lines = [orjson.loads(line) for line in workspace.conversation_file("chat").read_bytes().splitlines()]
    summary = next(line for line in lines if line.get("marker") == COMPACTION_MARKER)
    assert summary["id"] == done["summary_id"] and summary["content"] == SUMMARY
    unknown = oboto(workspace.root, "conversations", "compact", "ghost")
    assert unknown.returncode == 2 and "no conversation named 'ghost'" in unknown.stderr


async def test_clear_gives_the_model_a_fresh_context_and_keeps_the_history(runtime: Runtime, llm_env) -> None:
    llm_env.add(Reply(text="first answer"), Reply(text="second answer"))
    assert (await runtime.chat("chat", "first question")).ok
    await runtime.clear_context("chat")
    assert (await runtime.chat("chat", "second question")).ok
    sent = [message["content"] for message in llm_env.requests[-1]["messages"][1:]]
    assert sent == ["second question"]
    stored = [message.content for message in runtime.conversations.messages("chat")]
    assert "first question" in stored and "first answer" in stored


async def test_usage_of_each_reply_is_stored_and_summed(runtime: Runtime, llm_env) -> None:
    llm_env.add(Reply(text="one", prompt_tokens=100, completion_tokens=10),
                Reply(text="two", prompt_tokens=200, completion_tokens=20))
    assert (await runtime.chat("chat", "first")).ok
    assert (await runtime.chat("chat", "second")).ok
    replies = [m for m in runtime.conversations.messages("chat") if m.role == "assistant"]
    assert [m.usage.prompt_tokens for m in replies if m.usage] == [100, 200]
    assert {m.model for m in replies} == {"openai/scripted"}
    usage = runtime.context.usage("chat")
    assert (usage.total.prompt_tokens, usage.total.completion_tokens, usage.turns) == (300, 30, 2)
    assert (usage.last_turn.prompt_tokens, usage.last_turn.completion_tokens) == (200, 20)


def test_a_conversation_file_of_an_older_version_still_reads(workspace) -> None:
    """Messages written before usage, model and compaction existed validate with those fields empty."""
    old = {"version": 1, "id": "a1", "role": "assistant", "content": "hi", "created_at": "2024-01-01T00:00:00Z",
           "status": "complete"}
    message = Message.model_validate(old)
    assert message.usage is None and message.model is None and message.compacted_through is None
