"""The local model's reply format: the constrained schema built from tools, the history it is shown, and the
incremental reader that streams the answer out of a half-generated JSON object."""

from __future__ import annotations

import json
import random

import pytest

from oboto.agent.tools.base import ToolRegistry
from oboto.llm.local_format import (
    AFTER_RESULT,
    RELATIVE_PATH_PATTERN,
    AnswerStream,
    chat_messages,
    example_turns,
    fit_to_context,
    parse_reply,
    response_schema,
    tool_rounds,
    tools_instructions,
)
from oboto.services.runtime import build_tool_registry

LIST_FILES = {
    "type": "function",
    "function": {
        "name": "list_files",
        "description": "List a folder. Hidden files are skipped.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "default": ".", "description": "Folder", "maxLength": 500},
                           "pattern": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
            "additionalProperties": False,
        },
    },
}
READ_FILE = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"},
                           "range": {"$ref": "#/$defs/Range"}},
            "required": ["path"],
            "$defs": {"Range": {"type": "object", "properties": {"start": {"type": "integer", "minimum": 1}}}},
        },
    },
}


def feed_in_chunks(text: str, seed: int) -> str:
    """Everything AnswerStream returns for `text` cut into random pieces (1 to 4 characters)."""
    generator = random.Random(seed)
    reader = AnswerStream()
    out = []
    position = 0
    while position < len(text):
        size = generator.randint(1, 4)
        out.append(reader.feed(text[position:position + size]))
        position += size
    return "".join(out)


@pytest.mark.parametrize("answer", [
    "Two files: a.txt and b.txt.",
    'quotes " and \\ backslashes / and\nnew lines\tand tabs',
    "unicode: café, 日本語, emoji 😀 and \u2028",
    "",
])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_answer_stream_decodes_exactly_what_json_would(answer: str, ensure_ascii: bool) -> None:
    raw = json.dumps({"action": "answer", "text": answer}, ensure_ascii=ensure_ascii)
    spaced = raw.replace('{"action": "answer", "text": ', '{ \n "action" : "answer" ,\n "text" :  ')
    for seed in range(20):
        assert feed_in_chunks(raw, seed) == answer
        assert feed_in_chunks(spaced, seed) == answer


def test_answer_stream_streams_before_the_object_is_complete() -> None:
    reader = AnswerStream()
    assert reader.feed('{"action": "ans') == ""
    assert not reader.is_answer
    assert reader.feed('wer", "te') == ""
    assert reader.is_answer
    assert reader.feed('xt": "Hel') == "Hel"
    assert reader.feed("lo\\") == "lo"  # the escape waits for its second character
    assert reader.feed('n"}') == "\n"
    assert reader.feed(" more") == ""


def test_answer_stream_says_nothing_for_a_tool_call() -> None:
    raw = json.dumps({"action": "list_files", "arguments": {"path": ".", "text": "not this"}})
    reader = AnswerStream()
    assert reader.feed(raw) == "" and not reader.is_answer
    assert feed_in_chunks(raw, 1) == ""


def test_parse_reply_turns_a_tool_choice_into_a_compact_call() -> None:
    reply = parse_reply('{"action": "list_files", "arguments": {"path": "src", "pattern": null}}', "", "call_7")
    assert reply is not None and reply.text == ""
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_7", "list_files", '{"path":"src","pattern":null}')


def test_parse_reply_answer_and_cut_off_replies() -> None:
    assert parse_reply('{"action": "answer", "text": "hi"}', "hi", "call_1").text == "hi"
    assert parse_reply('{"action": "answer", "text": "half a sen', "half a sen", "call_1").text == "half a sen"
    assert parse_reply('{"action": "list_files", "argu', "", "call_1") is None


def test_schema_offers_an_answer_or_one_call_per_tool_with_its_own_parameters() -> None:
    schema = response_schema([LIST_FILES, READ_FILE])
    answer, list_files, read_file = schema["anyOf"]
    assert answer["required"] == ["action", "text"] and answer["properties"]["action"] == {"const": "answer"}
    assert answer["properties"]["text"]["minLength"] == 1  # an empty answer would end the turn saying nothing
    assert list_files["properties"]["action"] == {"const": "list_files"}
    assert list_files["required"] == ["action", "arguments"] and list_files["additionalProperties"] is False
    arguments = list_files["properties"]["arguments"]
    # descriptions, defaults and long limits dropped; a path may only be relative
    assert arguments["properties"]["path"] == {"type": "string", "pattern": RELATIVE_PATH_PATTERN}
    assert arguments["properties"]["pattern"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert arguments["additionalProperties"] is False
    read_arguments = read_file["properties"]["arguments"]
    assert read_arguments["required"] == ["path"]
    # the tool's own regex pattern dropped, the relative-path one in its place
    assert read_arguments["properties"]["path"] == {"type": "string", "minLength": 1, "pattern": RELATIVE_PATH_PATTERN}
    assert read_arguments["properties"]["range"] == {"$ref": "#/$defs/read_file__Range"}
    assert schema["$defs"]["read_file__Range"]["properties"]["start"] == {"type": "integer"}


def test_schema_of_every_builtin_tool_is_plain_json_schema() -> None:
    registry: ToolRegistry = build_tool_registry()
    tools = [registry.get(name).schema() for name in registry.names]
    schema = response_schema(tools)
    assert len(schema["anyOf"]) == len(tools) + 1
    assert schema_keywords(schema) <= {"anyOf", "type", "properties", "required", "additionalProperties", "const",
                                       "enum", "items", "minLength", "$ref", "$defs", "pattern"}
    # the one pattern is oboto's own for paths: a tool's regex never reaches llama.cpp's partial regex support
    assert set(patterns_in(schema)) == {RELATIVE_PATH_PATTERN}


def patterns_in(schema: object) -> list[str]:
    if isinstance(schema, list):
        return [found for item in schema for found in patterns_in(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
    return own + [found for key, value in schema.items() if key != "pattern" for found in patterns_in(value)]


def schema_keywords(schema: object) -> set[str]:
    """Every keyword used anywhere in `schema` (property names are not keywords)."""
    if isinstance(schema, list):
        return set().union(*(schema_keywords(item) for item in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        children = value.values() if key in ("properties", "$defs") else [value]
        for child in children:
            found |= schema_keywords(child)
    return found


def test_instructions_list_each_tool_with_its_required_and_optional_arguments() -> None:
    text = tools_instructions([LIST_FILES, READ_FILE])
    assert '{"action": "answer", "text":' in text and '{"arguments": {...}, "action": "tool_name"}' in text
    assert "- list_files(path?, pattern?): List a folder" in text
    assert "- read_file(path, range?): Read a file" in text


def test_history_shows_calls_in_the_reply_format_and_results_as_user_turns() -> None:
    messages = [
        {"role": "system", "content": "You are oboto."},
        {"role": "user", "content": "What is here?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "list_files", "arguments": '{"path":"."}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "list_files", "content": "a.txt"},
        {"role": "assistant", "content": "One file."},
    ]
    with_tools = chat_messages(messages, [LIST_FILES])
    examples = example_turns([LIST_FILES])
    assert [m["role"] for m in examples] == ["user", "assistant", "user", "assistant"]
    assert with_tools[1:5] == examples
    conversation = with_tools[5:]
    assert [m["role"] for m in conversation] == ["user", "assistant", "user", "assistant"]
    assert with_tools[0]["content"].startswith("You are oboto.\n\nReply with one JSON object")
    assert json.loads(conversation[1]["content"]) == {"action": "list_files", "arguments": {"path": "."}}
    assert conversation[2]["content"] == f"Result of list_files:\na.txt\n\n{AFTER_RESULT}"
    assert "saying which file it comes from" in conversation[2]["content"], "an answer names its source"
    assert json.loads(conversation[3]["content"]) == {"action": "answer", "text": "One file."}
    plain = chat_messages(messages, None)
    assert plain[0]["content"] == "You are oboto." and plain[4]["content"] == "One file."


def word_count(message: dict[str, str]) -> int:
    return len(message["content"].split()) + 1


def test_fit_to_context_drops_the_oldest_turns_and_keeps_the_system_message() -> None:
    messages = [{"role": "system", "content": "rules " * 10}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn{i} " * 10} for i in range(10)
    ]
    fitted = fit_to_context(messages, word_count, budget=50)
    assert fitted[0] == messages[0]
    assert fitted[-1] == messages[-1]
    assert sum(word_count(m) for m in fitted) <= 50
    assert fitted[1:] == messages[-len(fitted) + 1:]  # a contiguous tail of the history


def test_fit_to_context_cuts_a_single_message_that_cannot_fit() -> None:
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "word " * 1000}]
    fitted = fit_to_context(messages, word_count, budget=100)
    assert [m["role"] for m in fitted] == ["system", "user"]
    assert sum(word_count(m) for m in fitted) <= 100
    assert fitted[1]["content"].startswith("word word") and "cut to fit" in fitted[1]["content"]


def test_tool_rounds_count_the_calls_since_the_person_last_spoke() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
    earlier_turn = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "", "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "c", "content": "x"}, {"role": "assistant", "content": "done"}]
    assert tool_rounds([{"role": "system", "content": "s"}, *earlier_turn, {"role": "user", "content": "b"}]) == 0
    this_turn = [{"role": "assistant", "content": "", "tool_calls": [call]},
                 {"role": "tool", "tool_call_id": "c", "content": "x"}]
    assert tool_rounds([*earlier_turn, {"role": "user", "content": "b"}, *this_turn]) == 1
    assert tool_rounds([*earlier_turn, {"role": "user", "content": "b"}, *this_turn, *this_turn]) == 2


def test_with_no_callable_tools_the_schema_only_allows_an_answer() -> None:
    """Used once a model has had its tool rounds: the reply keeps the JSON shape but must be the answer."""
    assert response_schema([]) == {"anyOf": [response_schema([LIST_FILES])["anyOf"][0]]}


def test_the_worked_example_only_calls_an_offered_tool() -> None:
    for offered in ([LIST_FILES], [LIST_FILES, READ_FILE]):
        names = {tool["function"]["name"] for tool in offered}
        call = json.loads(example_turns(offered)[1]["content"])
        assert call["action"] in names
