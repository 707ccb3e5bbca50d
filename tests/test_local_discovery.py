"""Local model servers found by themselves: each default port answered by a scripted server (started on that port
when it is free), none answering, a slow one, the order of preference, the cache, the choice of model, the
embedded model as the last fallback, local discovery turned off, and what `oboto doctor` says."""

from __future__ import annotations

import functools
import socket
from argparse import Namespace
from collections.abc import Iterator

import pytest

from oboto.commands import doctor
from oboto.core.config import Settings
from oboto.core.events import ModelChosen
from oboto.core.paths import WorkspacePaths
from oboto.llm import discovery, resolve
from oboto.llm.client import LLMClient
from oboto.llm.discovery import DEFAULT_LOCAL_SERVERS, LocalServer, discover_local_servers
from oboto.llm.resolve import LOCAL_MODEL, ModelChoice, resolve_model, settle_choice
from oboto.testing import Reply, ScriptedLLM


@pytest.fixture(autouse=True)
def fresh_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test probes anew: the answers are cached per process."""
    monkeypatch.setattr(discovery, "_probed", {})


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def started() -> Iterator[list[ScriptedLLM]]:
    servers: list[ScriptedLLM] = []
    yield servers
    for server in servers:
        server.stop()


def serve(started: list[ScriptedLLM], **options: object) -> ScriptedLLM:
    server = ScriptedLLM(**options).start()  # type: ignore[arg-type]
    started.append(server)
    return server


def as_candidate(server: ScriptedLLM, name: str = "test server") -> LocalServer:
    return LocalServer(name, server.port)


def probe_only(monkeypatch: pytest.MonkeyPatch, *candidates: LocalServer, timeout: float = 0.5) -> None:
    """The model choice probes `candidates` instead of the default ports (which may hold someone's real server)."""
    monkeypatch.setattr(resolve, "discover_local_servers",
                        functools.partial(discover_local_servers, tuple(candidates), timeout))


@pytest.mark.parametrize("server", DEFAULT_LOCAL_SERVERS, ids=lambda server: server.name)
def test_a_server_on_its_default_port_is_found(server: LocalServer, started: list[ScriptedLLM]) -> None:
    try:
        serve(started, port=server.port, models=("llama3.2",))
    except OSError as error:
        pytest.skip(f"port {server.port} is taken on this machine ({error.strerror}), so no server can be started there")

    found = discover_local_servers((server,)).found

    assert found is not None and found.server == server and found.models == ("llama3.2",)
    assert found.server.base_url == f"http://127.0.0.1:{server.port}/v1"


def test_the_default_servers_are_ollama_lm_studio_and_llama_cpp_in_that_order() -> None:
    assert [(server.name, server.port) for server in DEFAULT_LOCAL_SERVERS] == [
        ("Ollama", 11434), ("LM Studio", 1234), ("llama.cpp server", 8080)]


def test_when_none_answers_each_says_why(started: list[ScriptedLLM]) -> None:
    empty = serve(started, models=())
    candidates = (LocalServer("Ollama", closed_port()), as_candidate(empty, "LM Studio"))

    result = discover_local_servers(candidates)

    assert result.found is None
    assert result.describe() == (f"Ollama ({candidates[0].port}): nothing listens; "
                                 f"LM Studio ({empty.port}): lists no models")


def test_a_slow_server_times_out_and_the_next_one_is_used(started: list[ScriptedLLM]) -> None:
    slow = serve(started, models=("slow-model",), models_delay=30)
    fast = serve(started, models=("fast-model",))

    result = discover_local_servers((as_candidate(slow, "slow"), as_candidate(fast, "fast")), timeout=0.3)

    assert result.found is not None and result.found.models == ("fast-model",)
    assert result.results[0].problem == "no answer within 0.3 s"
    assert slow.model_listings == 1, "the slow server was asked, not skipped"


def test_the_first_in_order_that_answers_wins(started: list[ScriptedLLM]) -> None:
    first, second = serve(started, models=("first",)), serve(started, models=("second",))
    assert discover_local_servers((as_candidate(first), as_candidate(second))).found.models == ("first",)
    assert discover_local_servers((as_candidate(second), as_candidate(first))).found.models == ("second",)


def test_probe_results_are_kept_for_the_process(started: list[ScriptedLLM]) -> None:
    server = serve(started)
    candidates = (as_candidate(server),)
    assert discover_local_servers(candidates) is discover_local_servers(candidates)
    assert server.model_listings == 1


def test_something_that_is_not_a_model_server_is_passed_over(started: list[ScriptedLLM]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = LocalServer("silent", listener.getsockname()[1])  # accepts, never answers
        real = serve(started)
        result = discover_local_servers((silent, as_candidate(real)), timeout=0.3)
    assert result.found is not None and result.found.server.port == real.port
    assert result.results[0].problem == "no answer within 0.3 s"


def test_nothing_configured_chooses_the_first_server_and_its_first_chat_model(
        monkeypatch: pytest.MonkeyPatch, started: list[ScriptedLLM]) -> None:
    server = serve(started, models=("nomic-embed-text", "llama3.2", "qwen2.5"))
    probe_only(monkeypatch, as_candidate(server, "Ollama"))
    pending = resolve_model(Settings(local_discovery=True), {})
    assert pending.discovery_pending

    choice = settle_choice(pending, Settings(local_discovery=True))

    assert (choice.model, choice.api_base, choice.discovery_pending) == ("openai/llama3.2", server.base_url, False)
    assert choice.reason == (f"no model or provider key is set; Ollama answered at {server.base_url} "
                             "(its first chat model of 3)")
    assert choice.probed == f"Ollama ({server.port}): lists nomic-embed-text, llama3.2, qwen2.5"


def test_a_configured_server_model_is_used(monkeypatch: pytest.MonkeyPatch, started: list[ScriptedLLM]) -> None:
    server = serve(started, models=("llama3.2", "qwen2.5"))
    probe_only(monkeypatch, as_candidate(server))
    settings = Settings(local_discovery=True, llm={"local_server_model": "qwen2.5"})
    choice = settle_choice(resolve_model(settings, {}), settings)
    assert choice.model == "openai/qwen2.5" and choice.reason.endswith("(llm.local_server_model)")


def test_a_provider_key_or_a_named_model_is_never_probed_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve, "discover_local_servers", lambda: pytest.fail("probed"))
    settings = Settings(local_discovery=True)
    assert settle_choice(resolve_model(settings, {"OPENAI_API_KEY": "k"}), settings).model == "openai/gpt-4o-mini"
    named = Settings(local_discovery=True, model="anthropic/claude-sonnet-4-5")
    assert settle_choice(resolve_model(named, {}), named).model == "anthropic/claude-sonnet-4-5"


def test_the_embedded_model_is_the_last_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve, "local_extra_installed", lambda: True)
    probe_only(monkeypatch, LocalServer("Ollama", closed_port()))
    settings = Settings(local_discovery=True, local_fallback=True)

    choice = settle_choice(resolve_model(settings, {}), settings)

    assert choice.model == LOCAL_MODEL and not choice.discovery_pending
    assert choice.reason == ("no provider key and no local server answered (Ollama (11434), LM Studio (1234), "
                             "llama.cpp server (8080)); the local extra is installed")


def test_local_discovery_off_probes_nothing(monkeypatch: pytest.MonkeyPatch, workspace: WorkspacePaths) -> None:
    from oboto.services.runtime import Runtime

    monkeypatch.setattr(resolve, "discover_local_servers", lambda: pytest.fail("probed"))
    monkeypatch.setattr(resolve, "local_extra_installed", lambda: True)
    (workspace.state_dir / "config.toml").write_text("local_discovery = false\n")
    monkeypatch.delenv("OBOTO_LOCAL_DISCOVERY")
    runtime = Runtime.open(workspace.root)
    assert runtime.settle_model() == ModelChoice(None, "nothing configured; local_fallback is off")


async def test_a_found_server_answers_the_turn_and_the_choice_is_published(
        monkeypatch: pytest.MonkeyPatch, workspace: WorkspacePaths, started: list[ScriptedLLM],
        litellm_imported: None) -> None:
    from oboto.services.runtime import Runtime

    server = serve(started, models=("llama3.2",), default=Reply(text="Hello from the local server."))
    probe_only(monkeypatch, as_candidate(server, "LM Studio"))
    monkeypatch.setenv("OBOTO_LOCAL_DISCOVERY", "true")
    runtime = Runtime.open(workspace.root)
    chosen: list[ModelChosen] = []
    runtime.bus.subscribe(chosen.append, ModelChosen)
    assert runtime.model_choice.discovery_pending, "nothing is probed while the runtime is built"

    outcome = await runtime.chat("chat", "hi")

    assert outcome.ok and outcome.final_text == "Hello from the local server."
    assert isinstance(runtime.llm, LLMClient) and runtime.llm.api_base == server.base_url
    assert server.requests[0]["model"] == "llama3.2"
    assert [(event.model, event.reason) for event in chosen] == [("openai/llama3.2", runtime.model_choice.reason)]


def doctor_checks(workspace: WorkspacePaths) -> dict[str, doctor.Check]:
    return {check.name: check for check in doctor.gather(Namespace(workspace=str(workspace.root), json=False))}


def test_doctor_says_which_server_and_model_were_chosen_and_why(
        monkeypatch: pytest.MonkeyPatch, workspace: WorkspacePaths, started: list[ScriptedLLM]) -> None:
    server = serve(started, models=("llama3.2",))
    closed = closed_port()
    probe_only(monkeypatch, LocalServer("Ollama", closed), as_candidate(server, "LM Studio"))
    monkeypatch.setenv("OBOTO_LOCAL_DISCOVERY", "true")

    checks = doctor_checks(workspace)

    assert checks["model"].ok
    assert checks["model"].detail == (f"openai/llama3.2 at {server.base_url} (no model or provider key is set; "
                                      f"LM Studio answered at {server.base_url} (its only model))")
    assert checks["local servers"].detail == (f"Ollama ({closed}): nothing listens; "
                                              f"LM Studio ({server.port}): lists llama3.2")
    assert "api key" not in checks, "a local server needs no key"


def test_doctor_says_discovery_is_off(workspace: WorkspacePaths) -> None:
    checks = doctor_checks(workspace)
    assert checks["local servers"].detail == "not looked for (local_discovery = false)"
    assert not checks["model"].ok
