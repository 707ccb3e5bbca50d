"""What a small local model is given (agent/small_model.py) and what its grammar allows: a short prompt naming
the workspace's files, the three file tools with only their own arguments and paths narrowed to what exists,
results restated as sentences, and (for every local model) no absolute path, no `..` and no `~` in any path."""

from __future__ import annotations

import ctypes
import json
import math
from typing import Any

import jsonschema
import pytest

from oboto.agent.small_model import LISTED_FILES_LIMIT, SMALL_MODEL_ARGUMENTS
from oboto.agent.tools.base import ToolContext
from oboto.agent.turn import TurnLimits, run_turn
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths
from oboto.llm.local_format import response_schema
from oboto.llm.resolve import LOCAL_MODEL, local_extra_installed
from oboto.llm.types import LLMResponse, ToolCallRequest
from oboto.services.runtime import build_tool_registry
from oboto.testing import FakeModel

REFUSED_PATHS = ["/etc/passwd", "/", "../secret.txt", "src/../../x", "~/notes.txt", "./a/../../b", "a//b", ".."]
ACCEPTED_PATHS = [".", "README.md", "src/app.py", ".gitignore", "docs/", "a b.txt", "notes..old"]


@pytest.fixture
def sample(workspace: WorkspacePaths) -> WorkspacePaths:
    (workspace.root / "README.md").write_text("# Demo\nA demo project.\n")
    (workspace.root / "src").mkdir()
    (workspace.root / "src" / "app.py").write_text("def main():\n    return 42\n")
    return workspace


def call(name: str, **arguments: Any) -> LLMResponse:
    return LLMResponse(text="", tool_calls=[ToolCallRequest(id="c1", name=name, arguments=json.dumps(arguments))])


async def small_turn(workspace: WorkspacePaths, *replies: LLMResponse) -> tuple[FakeModel, list[dict[str, Any]]]:
    model = FakeModel([*replies, LLMResponse(text="done")], small=True)
    ctx = ToolContext(paths=workspace, settings=Settings())
    messages = [{"role": "system", "content": f"You are oboto.\n\nWorkspace: {workspace.root}"},
                {"role": "user", "content": "What files are here?"}]
    await run_turn(model, build_tool_registry(), ctx, messages, TurnLimits())
    return model, messages


async def test_a_small_model_gets_a_short_prompt_naming_the_files(sample: WorkspacePaths) -> None:
    model, _ = await small_turn(sample)
    system = model.requests[0].messages[0]
    assert system["role"] == "system"
    assert "The project's files: README.md, src/app.py." in system["content"]
    assert str(sample.root) not in system["content"], "no absolute path for the model to copy"
    assert "When the question names a file, read that file." in system["content"]
    assert len(system["content"]) < 400


async def test_a_small_model_is_offered_the_file_tools_with_only_their_own_arguments(sample: WorkspacePaths) -> None:
    model, _ = await small_turn(sample)
    offered = {tool["function"]["name"]: tool["function"]["parameters"] for tool in model.requests[0].tools}
    assert offered.keys() == SMALL_MODEL_ARGUMENTS.keys()
    assert {name: tuple(parameters["properties"]) for name, parameters in offered.items()} == SMALL_MODEL_ARGUMENTS
    assert offered["read_file"]["properties"]["path"]["enum"] == ["README.md", "src/app.py"]
    assert offered["list_files"]["properties"]["path"]["enum"] == [".", "src"]
    assert offered["search_files"]["required"] == ["pattern"]
    assert offered["list_files"]["required"] == ["path"], "a listing names its folder first, like any other call"


async def test_a_big_workspace_is_named_in_part_and_its_paths_are_not_listed(workspace: WorkspacePaths) -> None:
    for number in range(LISTED_FILES_LIMIT + 5):
        (workspace.root / f"file{number:03}.txt").write_text("x")
    model, _ = await small_turn(workspace)
    assert model.requests[0].messages[0]["content"].count(".txt") == LISTED_FILES_LIMIT
    assert ", and more." in model.requests[0].messages[0]["content"]
    read_file = next(tool for tool in model.requests[0].tools if tool["function"]["name"] == "read_file")
    assert "enum" not in read_file["function"]["parameters"]["properties"]["path"]


async def test_results_are_restated_for_the_model_and_stored_as_they_were(sample: WorkspacePaths) -> None:
    model, messages = await small_turn(sample, call("list_files", path="."))
    seen = model.requests[1].messages[-1]
    assert seen["role"] == "tool"
    assert seen["content"] == "The project holds: README.md, src (a folder)."

    model, _ = await small_turn(sample, call("search_files", pattern="def main"))
    assert model.requests[1].messages[-1]["content"] == "def main is in src/app.py.\nsrc/app.py line 1: def main():"

    model, _ = await small_turn(sample, call("read_file", path="src/app.py"))
    assert model.requests[1].messages[-1]["content"] == "src/app.py says:\ndef main():\n    return 42\n"


async def test_a_settings_file_is_restated_as_one_sentence_per_setting(sample: WorkspacePaths) -> None:
    (sample.root / "app.toml").write_text('[server]\nhost = "127.0.0.1"\nport = 8765\ndebug = false\n')
    (sample.root / "app.yaml").write_text("colour: black\nsizes: [1, 2]\n")
    model, _ = await small_turn(sample, call("read_file", path="app.toml"))
    assert model.requests[1].messages[-1]["content"] == ("app.toml sets server.host to 127.0.0.1.\n"
                                                         "app.toml sets server.port to 8765.\n"
                                                         "app.toml sets server.debug to false.")
    model, _ = await small_turn(sample, call("read_file", path="app.yaml"))
    assert model.requests[1].messages[-1]["content"] == "app.yaml sets colour to black.\napp.yaml sets sizes to 1, 2."


async def test_a_settings_file_that_does_not_parse_is_shown_as_it_is(sample: WorkspacePaths) -> None:
    (sample.root / "broken.toml").write_text("host = = 1\n")
    model, _ = await small_turn(sample, call("read_file", path="broken.toml"))
    assert model.requests[1].messages[-1]["content"] == "broken.toml says:\nhost = = 1\n"


async def test_a_text_file_is_restated_as_one_paragraph_after_its_name(sample: WorkspacePaths) -> None:
    (sample.root / "notes.txt").write_text("Feed the cat.\n\nWater the plants.\n")
    model, _ = await small_turn(sample, call("read_file", path="README.md"))
    assert model.requests[1].messages[-1]["content"] == "README.md says: Demo. A demo project."
    model, _ = await small_turn(sample, call("read_file", path="notes.txt"))
    assert model.requests[1].messages[-1]["content"] == "notes.txt says: Feed the cat. Water the plants."


async def test_a_part_of_a_file_is_shown_as_the_tool_gave_it(sample: WorkspacePaths) -> None:
    (sample.root / "long.md").write_text("".join(f"line {number}\n" for number in range(1, 6)))
    model, _ = await small_turn(sample, call("read_file", path="long.md", max_lines=2))
    seen = model.requests[1].messages[-1]["content"]
    assert seen.startswith("[long.md: lines 1–2 of 5; continue with offset_line=3]\n"), "the tool's note on the part"
    assert seen.endswith("line 1\nline 2\n"), "not run together as if it were the whole file"


async def test_a_search_for_a_file_name_that_finds_nothing_shows_that_file(sample: WorkspacePaths) -> None:
    (sample.root / "conf.yaml").write_text("colour: black\n")
    model, _ = await small_turn(sample, call("search_files", pattern="conf.yaml"))
    assert model.requests[1].messages[-1]["content"] == "conf.yaml sets colour to black."
    model, _ = await small_turn(sample, call("search_files", pattern="app.py"))
    assert model.requests[1].messages[-1]["content"] == "src/app.py says:\ndef main():\n    return 42\n"
    model, _ = await small_turn(sample, call("search_files", pattern="zebra"))
    assert model.requests[1].messages[-1]["content"] == "No file contains zebra."


async def test_a_provider_model_gets_the_full_prompt_and_every_tool(sample: WorkspacePaths) -> None:
    model = FakeModel([LLMResponse(text="done")])
    ctx = ToolContext(paths=sample, settings=Settings())
    messages = [{"role": "system", "content": "the full prompt"}, {"role": "user", "content": "hi"}]
    await run_turn(model, build_tool_registry(), ctx, messages, TurnLimits())
    assert model.requests[0].messages[0]["content"] == "the full prompt"
    assert len(model.requests[0].tools) > len(SMALL_MODEL_ARGUMENTS)


def every_tool_schema() -> dict[str, Any]:
    registry = build_tool_registry()
    return response_schema([registry.get(name).schema() for name in registry.names])


def call_of(tool: str, path: str) -> dict[str, Any]:
    return {"arguments": {"path": path}, "action": tool}


@pytest.mark.parametrize("path", REFUSED_PATHS)
@pytest.mark.parametrize("tool", ["read_file", "write_file", "list_files", "search_files"])
def test_the_schema_refuses_paths_outside_the_workspace(tool: str, path: str) -> None:
    schema = every_tool_schema()
    arguments = {"read_file": {}, "write_file": {"content": "x"}, "list_files": {}, "search_files": {"pattern": "x"}}
    reply = {"arguments": {"path": path, **arguments[tool]}, "action": tool}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(reply, schema)
    jsonschema.validate({**reply, "arguments": {**reply["arguments"], "path": "src/app.py"}}, schema)


@pytest.mark.local_model
@pytest.mark.skipif(not local_extra_installed(), reason="needs the local extra: pip install -e '.[local]'")
def test_the_grammar_refuses_absolute_paths_for_the_local_model() -> None:
    """llama.cpp's own grammar engine, fed the reply token by token as the model would write it."""
    from oboto.llm.local import shared_engine

    engine = shared_engine(LOCAL_MODEL)
    llama = engine.load()
    registry = build_tool_registry()
    grammar = engine._grammar(json.dumps(response_schema([registry.get("read_file").schema()])))

    def accepts(reply: str) -> bool:
        return grammar_accepts(llama, grammar, reply)

    for path in REFUSED_PATHS:
        assert not accepts(json.dumps(call_of("read_file", path))), path
    for path in ACCEPTED_PATHS:
        assert accepts(json.dumps(call_of("read_file", path))), path
    assert accepts(json.dumps({"action": "answer", "text": "It is /etc/passwd."})), "an answer may say anything"


def grammar_accepts(llama: Any, grammar: Any, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets every token of `text` through, and then lets the reply end."""
    import llama_cpp

    vocabulary = llama_cpp.llama_model_get_vocab(llama.model)
    sampler = llama_cpp.llama_sampler_init_grammar(vocabulary, grammar._grammar.encode(), grammar._root.encode())

    def allowed(token: int) -> bool:
        candidate = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
        array = llama_cpp.llama_token_data_array(candidate, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return not math.isinf(candidate[0].logit)

    try:
        for token in llama.tokenize(text.encode(), add_bos=False, special=False):
            if not allowed(token):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return allowed(llama.token_eos())
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.mark.skipif(not local_extra_installed(), reason="the local extra is not installed")
async def test_a_small_model_turn_is_budgeted_with_its_own_prompt_not_the_full_one(
        sample: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full prompt and tools alone outgrow the embedded model's 8,192 tokens: the turn's budget must count
    what the small model is actually sent, or every question is refused as too long."""
    from oboto.services.runtime import Runtime

    monkeypatch.setenv("OBOTO_MODEL", LOCAL_MODEL)
    runtime = Runtime.open(sample.root)
    model = FakeModel([LLMResponse(text="README.md and src/app.py")], small=True)
    monkeypatch.setattr(runtime, "llm_for", lambda name: model)
    try:
        outcome = await runtime.chat("chat", "What files are in this project?")
    finally:
        await runtime.aclose()
    assert outcome.ok, outcome.error
    assert outcome.final_text == "README.md and src/app.py"
    assert "The project's files: README.md, src/app.py." in model.requests[0].messages[0]["content"]


async def test_a_small_model_turn_lists_the_workspace_once(
        sample: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgeting the turn and running it share one listing: a big workspace is not walked twice per question."""
    from oboto.agent import small_model
    from oboto.services.runtime import Runtime

    listings: list[object] = []
    listed = small_model.WorkspaceListing.of.__func__  # type: ignore[attr-defined]

    def counted(cls: type, root: Any, limit: int = LISTED_FILES_LIMIT) -> Any:
        listings.append(root)
        return listed(cls, root, limit)

    monkeypatch.setattr(small_model.WorkspaceListing, "of", classmethod(counted))
    monkeypatch.setenv("OBOTO_MODEL", "openai/small-test")
    runtime = Runtime.open(sample.root)
    model = FakeModel([LLMResponse(text="README.md and src/app.py")], small=True)
    monkeypatch.setattr(runtime, "llm_for", lambda name: model)
    monkeypatch.setattr(runtime, "model_problem", lambda name: None)
    try:
        outcome = await runtime.chat("chat", "What files are in this project?")
    finally:
        await runtime.aclose()
    assert outcome.ok, outcome.error
    assert listings == [sample.root]
