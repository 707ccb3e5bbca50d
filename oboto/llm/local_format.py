"""How a small local model is asked for tool calls and how its reply is read back.

A 135M-parameter model cannot be trusted to produce tool-call syntax by itself, so when tools are offered
its output is constrained (by a grammar built from a JSON schema) to exactly one JSON object:
`{"action": "answer", "text": "..."}` or a call, `{"arguments": {...}, "action": "<tool name>"}` with that
tool's own parameters (action first for a tool whose arguments are all optional). The choice is a value, not
a key, on purpose: asked to use a tool, a small model copies its name into "action" reliably, while offered a
choice of keys it nearly always picks "answer". Every `path` argument is a workspace-relative path.

This module builds that schema, the short instructions and worked examples that explain it, the chat
history in the same shape, and an incremental reader that streams the answer's text while the JSON is
still being generated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oboto.llm.types import ToolCallRequest

# Schema keywords the grammar needs; the rest (descriptions, numeric bounds, regex patterns, long length
# limits) would only make the grammar huge or fragile, and every tool validates its arguments anyway.
_STRUCTURAL_KEYWORDS = ("type", "properties", "required", "enum", "const", "anyOf", "oneOf", "items", "$ref")
_KEPT_MIN_LENGTH = 8
ANSWER_ACTION = "answer"
# Said after every tool result: without it a small model tends to call the same tool again.
AFTER_RESULT = ("Answer the person with this result, saying which file it comes from, or use a different tool "
                "if you still need one.")
CUT_NOTE = "\n[... cut to fit the local model's context]"
PATH_ARGUMENT = "path"
"""The argument name oboto's file tools give a workspace path; the grammar lets it hold only a relative one."""
_SEGMENT = r'([^/\\"~.\x00-\x1f]|[.][^/\\"~.\x00-\x1f])[^/\\"\x00-\x1f]*'
RELATIVE_PATH_PATTERN = rf"^([.]|{_SEGMENT}(/{_SEGMENT})*/?)$"
"""`.`, or names joined by `/`: never absolute (`/…`), never home-relative (`~…`), no `.` or `..` segment.
Written with `[.]` for a dot, since llama.cpp's grammar syntax has no `\\.` escape."""


def tool_name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"])


def response_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One JSON object: an answer, or a call of one of `tools` with arguments matching its parameters.

    A call puts its arguments before its action, and the grammar keeps that key order: a small model picks the
    right file far more often than the right tool, and once it has named a file (or a folder, or a word to find)
    the grammar leaves only the tool whose arguments fit (measured with bench/local_tasks.py).
    """
    answer = {
        "type": "object",
        "properties": {"action": {"const": ANSWER_ACTION}, "text": {"type": "string", "minLength": 1}},
        "required": ["action", "text"],
        "additionalProperties": False,
    }
    branches: list[dict[str, Any]] = [answer]
    definitions: dict[str, Any] = {}
    for tool in tools:
        name = tool_name(tool)
        parameters = dict(tool["function"].get("parameters") or {"type": "object", "properties": {}})
        # Each tool's own definitions move to the root under a tool-specific prefix, so names never clash.
        for key, definition in (parameters.pop("$defs", None) or {}).items():
            definitions[f"{name}__{key}"] = _grammar_safe(definition, name)
        branches.append({
            "type": "object",
            "properties": _call_keys(name, _relative_paths(_grammar_safe(parameters, name))),
            "required": ["action", "arguments"],
            "additionalProperties": False,
        })
    schema: dict[str, Any] = {"anyOf": branches}
    if definitions:
        schema["$defs"] = definitions
    return schema


def _grammar_safe(schema: Any, tool: str) -> Any:
    """`schema` reduced to its structure; objects get no extra properties; references point at the root."""
    if isinstance(schema, list):
        return [_grammar_safe(item, tool) for item in schema]
    if not isinstance(schema, dict):
        return schema
    safe: dict[str, Any] = {}
    for key in _STRUCTURAL_KEYWORDS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            safe[key] = f"#/$defs/{tool}__{value.removeprefix('#/$defs/')}"
        elif key == "properties":
            safe[key] = {name: _grammar_safe(sub, tool) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf"):
            safe[key] = _grammar_safe(value, tool)
        else:
            safe[key] = value
    if isinstance(schema.get("minLength"), int) and 0 < schema["minLength"] <= _KEPT_MIN_LENGTH:
        safe["minLength"] = schema["minLength"]
    if safe.get("type") == "object":
        safe["additionalProperties"] = False
        safe.setdefault("properties", {})
    return safe


def _call_keys(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A call's two keys in the order the model writes them: its arguments first when they name what it looks
    at, its action first when every argument is optional (empty arguments cannot tell which tool they are for)."""
    if arguments.get("required"):
        return {"arguments": arguments, "action": {"const": name}}
    return {"action": {"const": name}, "arguments": arguments}


def call_text(name: str, arguments: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    """A call as the model writes it (see `_call_keys`)."""
    tool = next((tool for tool in tools if tool_name(tool) == name), None)
    required = tool is not None and bool((tool["function"].get("parameters") or {}).get("required"))
    ordered = {"arguments": arguments, "action": name} if required else {"action": name, "arguments": arguments}
    return json.dumps(ordered, ensure_ascii=False)


def _relative_paths(arguments: dict[str, Any]) -> dict[str, Any]:
    """A `path` string argument (not already narrowed to a list of values) accepts only relative paths."""
    path = (arguments.get("properties") or {}).get(PATH_ARGUMENT)
    if isinstance(path, dict) and path.get("type") == "string" and "enum" not in path:
        path["pattern"] = RELATIVE_PATH_PATTERN
    return arguments


def tools_instructions(tools: list[dict[str, Any]]) -> str:
    """A short system message: the reply format and one line per tool."""
    lines = [
        "Reply with one JSON object and nothing else.",
        'To use a tool: {"arguments": {...}, "action": "tool_name"} (or {"action": "tool_name", "arguments": {}} '
        "for a tool whose arguments are all optional); you will then see its result.",
        'To answer the person: {"action": "answer", "text": "your reply"}.',
        "Tools:",
    ]
    for tool in tools:
        function = tool["function"]
        parameters = (function.get("parameters") or {}).get("properties") or {}
        required = set((function.get("parameters") or {}).get("required") or [])
        signature = ", ".join(name if name in required else f"{name}?" for name in parameters)
        summary = (function.get("description") or "").strip().split("\n")[0].split(". ")[0].rstrip(".")
        lines.append(f"- {function['name']}({signature}): {summary}")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Example:
    question: str
    arguments: dict[str, Any]
    result: str
    answer: str


# One per file tool, so the model sees which question each one answers; the results are in the sentence form
# agent/small_model.py gives a small model, and each answer repeats what its result says.
_EXAMPLES = {
    "read_file": _Example("What is in example.txt?", {"path": "example.txt"},
                          "example.txt says: hello from the example.",
                          "example.txt says: hello from the example."),
    "list_files": _Example("Which files are here?", {"path": "."},
                           "The project holds: notes.md, src (a folder).",
                           "The project holds notes.md and the folder src."),
    "search_files": _Example("Where is the function make_pie defined?", {"pattern": "make_pie"},
                             "make_pie is in kitchen.py.\nkitchen.py line 3: def make_pie(fruit):",
                             "make_pie is defined in kitchen.py, on line 3: def make_pie(fruit):"),
}


def example_turns(tools: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Worked exchanges (question, call, result, answer) shown before the conversation: one per file tool
    offered, else one for the first tool.

    Told only the format, a small model rarely uses a tool; an example of each call makes it pick the one a
    question needs.
    """
    names = [tool_name(tool) for tool in tools]
    examples = [(name, example) for name, example in _EXAMPLES.items() if name in names]
    if not examples:
        examples = [(names[0], _Example(f"Please use {names[0]}.", {}, "(the tool's result)",
                                        "Done: here is what the tool found."))]
    turns: list[dict[str, str]] = []
    for name, example in examples:
        turns += [
            {"role": "user", "content": example.question},
            {"role": "assistant", "content": call_text(name, example.arguments, tools)},
            {"role": "user", "content": f"Result of {name}:\n{example.result}\n\n{AFTER_RESULT}"},
            {"role": "assistant", "content": json.dumps({"action": ANSWER_ACTION, "text": example.answer})},
        ]
    return turns


def chat_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """oboto's chat-completion messages as plain role/content turns the model's chat template understands.

    With tools, earlier replies are shown in the JSON form the model must produce (so it sees the format
    used), and tool results come back as user turns that say which tool they answer.
    """
    result: list[dict[str, str]] = []
    system_parts = [str(message.get("content") or "") for message in messages if message.get("role") == "system"]
    if tools:
        system_parts.append(tools_instructions(tools))
    if system_parts:
        result.append({"role": "system", "content": "\n\n".join(part for part in system_parts if part)})
    if tools:
        result += example_turns(tools)
    for message in messages:
        role = message.get("role")
        content = str(message.get("content") or "")
        if role == "system":
            continue
        if role == "assistant":
            result.append({"role": "assistant", "content": _assistant_content(message, tools)})
        elif role == "tool":
            name = message.get("name") or "the tool"
            result.append({"role": "user", "content": f"Result of {name}:\n{content}\n\n{AFTER_RESULT}"})
        else:
            result.append({"role": "user", "content": content})
    return result


def tool_rounds(messages: list[dict[str, Any]]) -> int:
    """How many replies with tool calls the model has made since the person last spoke."""
    rounds = 0
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        if message.get("role") == "assistant" and message.get("tool_calls"):
            rounds += 1
    return rounds


def _assistant_content(message: dict[str, Any], tools: list[dict[str, Any]] | None) -> str:
    content = str(message.get("content") or "")
    calls = message.get("tool_calls") or []
    if not tools:
        names = ", ".join(call["function"]["name"] for call in calls)
        return content or (f"(used {names})" if names else "")
    shown = [json.dumps({"action": ANSWER_ACTION, "text": content}, ensure_ascii=False)] if content else []
    for call in calls:
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except json.JSONDecodeError:
            arguments = {}
        shown.append(call_text(call["function"]["name"], arguments, tools))
    return "\n".join(shown)


def fit_to_context(
    messages: list[dict[str, str]], count: Callable[[dict[str, str]], int], budget: int
) -> list[dict[str, str]]:
    """The system message and the newest messages that fit in `budget` tokens (as `count` measures them).

    Long conversations never fail: the oldest turns are dropped, and a single turn too long on its own
    (a big file, say) is cut, keeping its beginning.
    """
    system = [messages[0]] if messages and messages[0]["role"] == "system" else []
    rest = messages[len(system):]
    if system and count(system[0]) > budget // 2:
        system = [_cut(system[0], count, budget // 2)]
    used = sum(count(message) for message in system)
    kept: list[dict[str, str]] = []
    for message in reversed(rest):
        cost = count(message)
        if used + cost > budget:
            break
        kept.insert(0, message)
        used += cost
    if not kept and rest:
        kept = [_cut(rest[-1], count, budget - used)]
    return system + kept


def _cut(message: dict[str, str], count: Callable[[dict[str, str]], int], allowed: int) -> dict[str, str]:
    """`message` with its content shortened (from the end) until it costs at most `allowed`."""
    content = message["content"]
    cut = dict(message)
    for _ in range(8):
        cost = count(cut)
        if cost <= allowed:
            return cut
        content = content[: int(len(content) * allowed / cost * 0.9)]
        cut["content"] = content + CUT_NOTE
    cut["content"] = CUT_NOTE.strip()
    return cut


@dataclass
class ParsedReply:
    """A finished constrained reply: the answer text, or one tool call."""

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)


def parse_reply(raw: str, streamed_answer: str, call_id: str) -> ParsedReply | None:
    """The reply in `raw`; None when it is not a complete object (generation stopped early).

    A reply cut off inside the answer still counts, as the text streamed so far.
    """
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return ParsedReply(streamed_answer) if streamed_answer else None
    action = value.get("action") if isinstance(value, dict) else None
    if action == ANSWER_ACTION and isinstance(value.get("text"), str):
        return ParsedReply(value["text"])
    if isinstance(action, str) and action != ANSWER_ACTION:
        arguments = json.dumps(value.get("arguments") or {}, separators=(",", ":"), ensure_ascii=False)
        return ParsedReply("", [ToolCallRequest(id=call_id, name=action, arguments=arguments)])
    return None


_WHITESPACE = " \t\r\n"
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerStream:
    """Reads a growing JSON reply and returns, piece by piece, the decoded characters of its answer text.

    The grammar guarantees the text is a prefix of `{"action": "answer", "text": "..."}`, of
    `{"arguments": {...}, "action": "..."}` or of `{"action": "...", "arguments": {...}}`, so this only follows
    the top-level keys and string values: once
    "action" is "answer", the "text" string is decoded (escapes and surrogate pairs included) as it arrives;
    an object value (the arguments) or any other action is a tool call.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._state = "start"  # start → key → colon → value → (key | string) … → done | tool
        self._in_key = False
        self._buffer: list[str] = []
        self._key = ""
        self._action: str | None = None
        self._high_surrogate: int | None = None

    @property
    def is_answer(self) -> bool:
        """True once the reply is known to be an answer (not a tool call)."""
        return self._action == ANSWER_ACTION

    def feed(self, piece: str) -> str:
        """The answer characters that `piece` completes (empty while none are known yet)."""
        text = self._pending + piece
        out: list[str] = []
        position = 0
        while position < len(text) and self._state not in ("done", "tool"):
            char = text[position]
            if self._state == "string":
                consumed = self._string_char(text, position, out)
                if consumed == 0:
                    break  # an escape sequence that has not fully arrived yet
                position += consumed
                continue
            position += 1
            if char in _WHITESPACE:
                continue
            if self._state in ("start", "key") and char in "{,":
                self._state = "key"
            elif self._state == "key" and char == '"':
                self._start_string(in_key=True)
            elif self._state == "colon" and char == ":":
                self._state = "value"
            elif self._state == "value" and char == '"':
                self._start_string(in_key=False)
            elif char == "}":
                self._state = "done"
            else:
                self._state = "tool"  # an object value: the arguments of a tool call
        self._pending = text[position:]
        return "".join(out)

    def _start_string(self, *, in_key: bool) -> None:
        self._state = "string"
        self._in_key = in_key
        self._buffer = []

    def _streaming(self) -> bool:
        return not self._in_key and self._key == "text" and self._action == ANSWER_ACTION

    def _string_char(self, text: str, position: int, out: list[str]) -> int:
        """Decode one character (or escape) of a string; how many input characters it used (0: wait for more)."""
        char = text[position]
        if char == '"':
            self._end_string()
            return 1
        if char != "\\":
            self._add(char, out)
            return 1
        if position + 1 >= len(text):
            return 0
        kind = text[position + 1]
        if kind != "u":
            self._add(_SIMPLE_ESCAPES.get(kind, kind), out)
            return 2
        if position + 6 > len(text):
            return 0
        code = int(text[position + 2:position + 6], 16)
        if 0xD800 <= code < 0xDC00:
            self._high_surrogate = code
        elif 0xDC00 <= code < 0xE000 and self._high_surrogate is not None:
            self._add(chr(0x10000 + ((self._high_surrogate - 0xD800) << 10) + (code - 0xDC00)), out)
            self._high_surrogate = None
        else:
            self._add(chr(code), out)
        return 6

    def _add(self, char: str, out: list[str]) -> None:
        if self._streaming():
            out.append(char)
        else:
            self._buffer.append(char)

    def _end_string(self) -> None:
        value = "".join(self._buffer)
        if self._in_key:
            self._key, self._state = value, "colon"
            return
        if self._key == "action":
            self._action = value
            if value != ANSWER_ACTION:
                self._state = "tool"
                return
        self._state = "key"
