"""MemoryStore: recall among distractors, dedup, offline, restart, corruption, concurrency, embedder switch,
episodes, the loop briefing, the memory section of foreground turns, and the memory tools."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from oboto.agent.briefing import build_briefing
from oboto.core.events import Event, FileQuarantined, MemoryReembedded, MemoryStored, WorkspaceWarning
from oboto.core.paths import WorkspacePaths
from oboto.services.memory import MemoryStore
from oboto.services.memory_models import MemoryInputError, MemoryUnavailable
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, ScriptedToolCall

SUBJECTS = ["billing service", "search index", "reporting database", "CI pipeline", "frontend build",
            "mobile app", "metrics dashboard", "auth gateway", "email worker", "nightly backup job"]
PREDICATES = ["listens on port {n}", "is owned by the {team} team", "writes its logs to /var/log/{slug}",
              "moved to Kubernetes in {month}", "needs {n} GB of memory to start"]
TEAMS = ["platform", "growth", "payments", "infra", "data", "mobile", "security", "web", "support", "research"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
TARGET = "The staging database password is rotated every Monday by the ops team."


def distractors() -> list[str]:
    """Fifty distinct project facts, several about databases, none about passwords."""
    facts = []
    for index, subject in enumerate(SUBJECTS):
        for predicate in PREDICATES:
            detail = predicate.format(n=3000 + index * 7, team=TEAMS[index], slug=subject.split()[0],
                                      month=MONTHS[index])
            facts.append(f"The {subject} {detail}.")
    return facts


class Recorder:
    """Every event published on a bus, for assertions."""

    def __init__(self, runtime: Runtime) -> None:
        self.events: list[Event] = []
        runtime.bus.subscribe(self.events.append)

    def of(self, kind: type[Event]) -> list:
        return [event for event in self.events if isinstance(event, kind)]


class HashEmbedder:
    """A stand-in for another embedding model: hashed bag of words, 32 dimensions."""

    name = "test/hashed-words-32"
    dimension = 32

    def embed(self, texts):
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                rows[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def store(runtime: Runtime) -> MemoryStore:
    return runtime.memory


def test_opening_a_runtime_imports_neither_chroma_nor_the_embedder(workspace: WorkspacePaths) -> None:
    """The store is built cheaply; Chroma and wordllama load on first use only."""
    code = ("import sys; from oboto.services.runtime import Runtime; runtime = Runtime.open(sys.argv[1]); "
            "runtime.memory.recall('anything'); "
            "print(sorted(m for m in ('chromadb', 'wordllama') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(workspace.root)], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
    assert not workspace.memory_dir.exists(), "recalling from no store must not create one"


def test_recall_finds_the_relevant_memory_among_fifty_distractors(store: MemoryStore) -> None:
    store.remember_many(distractors()[:25], kind="fact")
    target = store.remember(TARGET, kind="fact", tags=["ops", "secrets"])
    store.remember_many(distractors()[25:], kind="fact")
    assert store.count() == 51
    found = store.recall("When does the database password change?", k=3)
    assert target.id in [memory.record.id for memory in found]
    assert found == sorted(found, key=lambda memory: -memory.score)
    best = next(memory for memory in found if memory.record.id == target.id)
    assert best.record.tags == ("ops", "secrets") and best.record.kind == "fact" and 0 < best.score <= 1


def test_recall_filters_by_kind(store: MemoryStore) -> None:
    store.remember("Run the migrations with make migrate before deploying.", kind="procedure")
    store.remember("The migrations folder holds 42 migrations.", kind="fact")
    found = store.recall("how to run migrations", k=5, kind="procedure")
    assert [memory.record.kind for memory in found] == ["procedure"]
    assert store.count(kind="fact") == 1 and store.count() == 2 and store.list(kind="episode") == []


def test_recall_of_one_kind_finds_it_behind_many_closer_memories_of_others(store: MemoryStore) -> None:
    store.remember_many(distractors(), kind="note")
    procedure = store.remember("Rotate the staging credentials with make rotate-keys.", kind="procedure")
    nearest = store.recall("which port does the billing service listen on", k=4)
    assert procedure.id not in [memory.record.id for memory in nearest]
    found = store.recall("which port does the billing service listen on", k=1, kind="procedure")
    assert [memory.record.id for memory in found] == [procedure.id]


def test_a_near_identical_memory_updates_the_existing_one(store: MemoryStore) -> None:
    first = store.remember("The API listens on port 8080.", kind="fact", tags=["api"], source="chat")
    again = store.remember("the API listens on port 8080", kind="fact", tags=["ports"], source="t-00000001")
    assert again.id == first.id and again.times == 2
    assert again.tags == ("api", "ports") and again.source == "t-00000001" and again.created_at == first.created_at
    as_note = store.remember("The API listens on port 8080.", kind="note")
    assert as_note.id != first.id, "only memories of the same kind are merged"
    other = store.remember("The admin console listens on port 9443 behind the VPN.", kind="fact")
    assert other.id != first.id
    assert store.count() == 3
    batch = store.remember_many(["Backups run at 02:00 UTC.", "backups run at 02:00 utc!"], kind="fact")
    assert batch[0].id == batch[1].id and store.count() == 4


def test_memories_survive_a_restart(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    first = Runtime.open(workspace.root)
    record = first.memory.remember(TARGET, kind="fact")
    first.memory.close()
    code = ("import sys; from oboto.services.runtime import Runtime; "
            "found = Runtime.open(sys.argv[1]).memory.recall('database password rotation', k=1); "
            "print(found[0].record.id, found[0].record.text)")
    result = subprocess.run([sys.executable, "-c", code, str(workspace.root)], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == f"{record.id} {TARGET}"
    assert Runtime.open(workspace.root).memory.get(record.id).text == TARGET


NETWORK_BLOCKED = textwrap.dedent("""
    import socket, sys
    attempts = []
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1") and self.family != socket.AF_UNIX:
            attempts.append(str(address))
            raise OSError(101, "Network is unreachable")
        return real_connect(self, address)

    socket.socket.connect = guarded_connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in (None, "127.0.0.1", "localhost", "::1"):
            attempts.append(f"dns {host}")
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo
    from oboto.services.runtime import Runtime
    memory = Runtime.open(sys.argv[1]).memory
    memory.remember("The staging database password is rotated every Monday.", kind="fact")
    memory.remember("The frontend is built with Vite.", kind="fact")
    found = memory.recall("database password", k=1)
    print("FOUND", found[0].record.text)
    print("ATTEMPTS", attempts)
""")


def test_remember_and_recall_work_with_the_network_unreachable(workspace: WorkspacePaths) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               NO_PROXY="", no_proxy="")
    result = subprocess.run([sys.executable, "-c", NETWORK_BLOCKED, str(workspace.root)], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "FOUND The staging database password is rotated every Monday." in result.stdout
    assert "ATTEMPTS []" in result.stdout, "nothing may even try the network"


def test_a_corrupt_store_is_moved_aside_reported_and_replaced(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    first = Runtime.open(workspace.root)
    first.memory.remember("Something worth keeping.", kind="fact")
    first.memory.close()
    garbage = b"this is not a sqlite database" * 100
    (workspace.memory_dir / "chroma.sqlite3").write_bytes(garbage)

    runtime = Runtime.open(workspace.root)
    events = Recorder(runtime)
    record = runtime.memory.remember("A fresh start.", kind="note")
    quarantined = events.of(FileQuarantined)
    assert len(quarantined) == 1 and quarantined[0].path == str(workspace.memory_dir)
    assert "could not be opened" in quarantined[0].reason
    moved = Path(quarantined[0].moved_to)
    assert moved.parent == workspace.state_dir and moved.name.startswith("memory.corrupt-")
    assert (moved / "chroma.sqlite3").read_bytes() == garbage, "the damaged store is kept byte for byte"
    assert runtime.memory.count() == 1 and runtime.memory.get(record.id).text == "A fresh start."


def test_an_unopenable_store_that_is_only_locked_is_not_moved_aside(store: MemoryStore, monkeypatch) -> None:
    store.remember("Kept.", kind="note")
    store.close()

    def locked_database(chromadb):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store._chroma, "_connect", locked_database)
    with pytest.raises(Exception, match="could not be opened: database is locked"):
        store.count()
    assert (store.folder / "chroma.sqlite3").exists()
    assert not list(store.folder.parent.glob("memory.corrupt-*"))


async def test_concurrent_remember_from_background_tasks_and_direct_calls_loses_nothing(
        workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    topics = ["volcanoes", "sourdough bread", "chess openings", "jazz harmony", "orbital mechanics",
              "beekeeping", "medieval castles", "tide pools", "origami cranes", "glacier retreat",
              "marathon training", "coral reefs", "typewriters", "lighthouses", "sundials"]

    def script(request: dict) -> Reply:
        messages = request["messages"]
        if messages[-1]["role"] == "tool":
            return Reply(text="Stored it.")
        query = next(m["content"] for m in messages if m["role"] == "user")
        return Reply(tool_calls=[ScriptedToolCall("remember", {"text": query, "tags": ["task"]})])

    llm_env.respond_with(script)
    runtime = Runtime.open(workspace.root, tasks={"max_concurrent": 5})
    runtime.activate_runner()
    try:
        task_texts = [f"Agent fact: the team studied {topic} on day {day}." for day, topic in enumerate(topics[:5])]
        direct_texts = [f"Direct fact: someone wrote a long essay about {topic}." for topic in topics[5:]]
        ids = [runtime.tasks.spawn(f"remember {index}", text).id for index, text in enumerate(task_texts)]
        same = "Shared fact: the office closes at six."
        direct = [*direct_texts, *[same] * 6]
        await asyncio.gather(*(asyncio.to_thread(runtime.memory.remember, text) for text in direct))
        records = [await runtime.tasks.wait(task_id, 20) for task_id in ids]
        assert [record.status for record in records] == ["completed"] * 5
    finally:
        await runtime.deactivate_runner("the test finished")
    notes = runtime.memory.list(kind="note", limit=100)
    assert sorted(record.text for record in notes) == sorted([*task_texts, *direct_texts, same])
    assert next(record for record in notes if record.text == same).times == 6, "racing copies merge into one"
    tagged = [record for record in runtime.memory.list(kind="note", limit=100) if record.tags == ("task",)]
    assert {record.source for record in tagged} == set(ids), "a task's memory names the task as its source"


async def test_an_episode_is_recorded_when_a_background_task_finishes(runner_runtime: Runtime,
                                                                      llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="Disk usage on the build server is 42 percent."))
    record = runner_runtime.tasks.spawn("check disk usage", "How full is the build server's disk?")
    assert (await runner_runtime.tasks.wait(record.id, 10)).status == "completed"
    await runner_runtime.memory.drain()
    episodes = runner_runtime.memory.recall("build server disk usage", kind="episode", k=5)
    assert len(episodes) == 1
    episode = episodes[0].record
    assert episode.source == record.id and "user" in episode.tags
    assert 'Background task "check disk usage" completed.' in episode.text
    assert "Asked: How full is the build server's disk?" in episode.text
    assert "Result: Disk usage on the build server is 42 percent." in episode.text
    assert episode.extra["status"] == "completed"


def test_the_loop_briefing_includes_memories_recalled_for_the_goals(runtime: Runtime) -> None:
    runtime.memory.remember_many(distractors(), kind="fact")
    target = runtime.memory.remember("Release notes must be written in CHANGELOG.md before tagging a release.",
                                     kind="procedure")
    runtime.agent_loop.set_goals(["Prepare the next release"])
    inputs = runtime.agent_loop.briefing_inputs(1, datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert 0 < len(inputs.memories) <= runtime.settings.memory.briefing_k
    assert inputs.memories[0].startswith(target.id)
    briefing = build_briefing(inputs)
    assert "CHANGELOG.md before tagging a release" in briefing and "none yet" not in briefing


async def test_a_foreground_turn_gets_relevant_memories_in_its_system_message(runtime: Runtime,
                                                                              llm_env: ScriptedLLM) -> None:
    runtime.memory.remember("Deploy with scripts/deploy.sh; it needs the AWS_PROFILE=prod credentials.",
                            kind="procedure")
    runtime.memory.remember("Alice likes her coffee black.", kind="note")
    llm_env.add(Reply(text="Use scripts/deploy.sh."))
    outcome = await runtime.chat("chat", "How do I deploy this project?")
    assert outcome.ok
    system = llm_env.requests[0]["messages"][0]
    assert system["role"] == "system"
    assert "## Memory" in system["content"] and "scripts/deploy.sh" in system["content"]
    assert "coffee" not in system["content"], "memories below the relevance floor are not offered"


async def test_the_memory_section_respects_its_token_cap(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root, memory={"context_token_cap": 60, "context_min_score": -1})
    for index in range(5):
        runtime.memory.remember(f"Deployment note {index}: " + "the deploy pipeline " * (10 + index * 7),
                                kind="note")
    section = await runtime.memory.context_for_turn("deploy pipeline")
    assert section.startswith("## Memory") and len(section) <= 60 * 4


async def test_a_turn_without_a_store_does_not_open_one(runtime: Runtime, workspace: WorkspacePaths,
                                                        llm_env: ScriptedLLM) -> None:
    llm_env.add(Reply(text="Hello."))
    assert (await runtime.chat("chat", "hi")).ok
    assert "## Memory" not in llm_env.requests[0]["messages"][0]["content"]
    assert not workspace.memory_dir.exists()


async def test_a_failing_memory_never_fails_the_turn(runtime: Runtime, llm_env: ScriptedLLM, monkeypatch) -> None:
    events = Recorder(runtime)

    def broken(prompt: str) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runtime.memory, "context_section", broken)
    llm_env.add(Reply(text="Still here."))
    outcome = await runtime.chat("chat", "hello")
    assert outcome.ok and outcome.final_text == "Still here."
    assert any("disk on fire" in event.message for event in events.of(WorkspaceWarning))


def test_switching_the_embedder_re_embeds_every_memory(runtime: Runtime) -> None:
    texts = ["The cache is flushed every hour.", "Invoices are generated on the first day of the month.",
             "The search cluster has three nodes."]
    originals = runtime.memory.remember_many(texts, kind="fact")
    runtime.memory.close()

    switched = MemoryStore(runtime.paths, runtime.settings, runtime.bus, embedder=HashEmbedder())
    events = Recorder(runtime)
    found = switched.recall("how many nodes does the search cluster have", k=1)
    reembedded = events.of(MemoryReembedded)
    assert len(reembedded) == 1 and reembedded[0].count == 3
    assert reembedded[0].previous.startswith("wordllama/") and reembedded[0].embedder == "test/hashed-words-32 (32-d)"
    assert found[0].record.text == "The search cluster has three nodes."
    assert {record.id for record in switched.list()} == {record.id for record in originals}
    assert switched.get(originals[1].id).created_at == originals[1].created_at, "metadata survives re-embedding"
    switched.remember("A memory stored with the new embedder.", kind="note")
    switched.close()

    back = MemoryStore(runtime.paths, runtime.settings, runtime.bus)
    assert back.count() == 4 and len(events.of(MemoryReembedded)) == 2
    assert back.recall("invoices each month", k=1)[0].record.id == originals[1].id


def test_an_unfinished_re_embedding_is_discarded_on_open(store: MemoryStore) -> None:
    import chromadb
    from chromadb.config import Settings

    kept = store.remember("The original memory.", kind="fact")
    store.close()
    client = chromadb.PersistentClient(path=str(store.folder), settings=Settings(anonymized_telemetry=False))
    client.create_collection("memories-reembed", embedding_function=None)
    assert store.get(kept.id).text == "The original memory." and store.count() == 1
    assert {collection.name for collection in client.list_collections()} == {"memories"}


def test_forget_deletes_and_unknown_ids_are_refused(store: MemoryStore) -> None:
    record = store.remember("Temporary.", kind="note")
    assert store.forget(record.id).text == "Temporary."
    assert store.count() == 0
    with pytest.raises(MemoryInputError, match=f"no memory with id {record.id}"):
        store.forget(record.id)
    with pytest.raises(MemoryInputError, match="not a memory id"):
        store.forget("42")


def test_events_name_what_was_stored(runtime: Runtime) -> None:
    events = Recorder(runtime)
    first = runtime.memory.remember("One fact.", kind="fact", source="chat")
    runtime.memory.remember("one fact", kind="fact")
    stored = events.of(MemoryStored)
    assert [(event.memory_id, event.updated) for event in stored] == [(first.id, False), (first.id, True)]


@pytest.mark.parametrize(("tool", "arguments", "message"), [
    ("remember", {"text": ""}, "text: String should have at least 1 character"),
    ("remember", {"text": "   "}, "the text is empty"),
    ("remember", {"text": "x" * 8001}, "text: String should have at most 8000 characters"),
    ("remember", {"text": "ok", "kind": "secret"}, "kind: Input should be 'fact', 'episode', 'procedure' or 'note'"),
    ("remember", {"text": "ok", "tags": [f"t{index}" for index in range(21)]}, "tags: List should have at most 20"),
    ("remember", {"text": "ok", "tags": ["x" * 41]}, "tags.0: String should have at most 40 characters"),
    ("remember", {"text": "ok", "tags": ["a,b"]}, "tags.0: String should match pattern"),
    ("remember", {"text": "ok", "colour": "red"}, "colour: Extra inputs are not permitted"),
    ("recall", {"query": "x", "k": 0}, "k: Input should be greater than or equal to 1"),
    ("recall", {"query": "x", "k": 51}, "k: Input should be less than or equal to 50"),
    ("recall", {}, "query: Field required"),
    ("forget", {"id": "nonsense"}, "id: String should match pattern"),
    ("forget", {"id": "m-0123456789ab"}, "no memory with id m-0123456789ab"),
])
async def test_bad_tool_arguments_are_clear_errors(runtime: Runtime, tool: str, arguments: dict, message: str) -> None:
    result = await runtime.tools.execute(tool, arguments, runtime.tool_context(conversation="chat"))
    assert not result.ok and result.content.startswith("Error: ") and message in result.content


async def test_the_tools_remember_recall_and_forget(runtime: Runtime) -> None:
    ctx = runtime.tool_context(conversation="chat")
    stored = await runtime.tools.execute("remember", {"text": TARGET, "kind": "fact", "tags": ["ops"]}, ctx)
    assert stored.ok and stored.content.startswith("Remembered m-")
    memory_id = stored.data["memory_id"]
    again = await runtime.tools.execute("remember", {"text": TARGET.upper(), "kind": "fact"}, ctx)
    assert again.content == f"Updated the near-identical memory {memory_id} (fact)."
    found = await runtime.tools.execute("recall", {"query": "database password", "k": 2}, ctx)
    assert found.ok and memory_id in found.content and found.content.startswith("1. [")
    assert runtime.memory.get(memory_id).source == "chat"
    read_only = runtime.tool_context(conversation="chat", read_only=True)
    refused = await runtime.tools.execute("forget", {"id": memory_id}, read_only)
    assert not refused.ok and "not available" in refused.content
    assert (await runtime.tools.execute("remember", {"text": "Seen while read-only."}, read_only)).ok
    assert (await runtime.tools.execute("forget", {"id": memory_id}, ctx)).ok
    after = await runtime.tools.execute("recall", {"query": "password", "kind": "fact"}, ctx)
    assert after.content == "No memories found of kind fact."


def test_a_litellm_embedding_model_can_be_configured(workspace: WorkspacePaths, llm_env: ScriptedLLM,
                                                     monkeypatch) -> None:
    from oboto.llm.litellm_setup import load_litellm

    calls: list[tuple[str, list[str], str | None]] = []

    def fake_embedding(*, model: str, input: list[str], **options):
        calls.append((model, list(input), options.get("api_base")))
        return SimpleNamespace(data=[{"embedding": (row * 3).tolist()} for row in HashEmbedder().embed(input)])

    monkeypatch.setattr(load_litellm(), "embedding", fake_embedding)
    runtime = Runtime.open(workspace.root, embedding_model="openai/text-embedding-3-small",
                           memory={"embedding_api_base": "http://127.0.0.1:9/v1"})
    runtime.memory.remember_many(["The cache is flushed every hour.", "The search cluster has three nodes."])
    found = runtime.memory.recall("search cluster nodes", k=1)
    assert found[0].record.text == "The search cluster has three nodes." and found[0].score == pytest.approx(1, abs=0.3)
    assert runtime.memory.embedder.name == "litellm/openai/text-embedding-3-small"
    assert runtime.memory.embedder.dimension == 32
    assert {call[0] for call in calls} == {"openai/text-embedding-3-small"}
    assert {call[2] for call in calls} == {"http://127.0.0.1:9/v1"}


def test_a_failing_embedding_model_is_a_clear_error(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    runtime = Runtime.open(workspace.root, embedding_model="openai/text-embedding-3-small",
                           memory={"embedding_api_base": llm_env.base_url})
    with pytest.raises(MemoryUnavailable, match="the embedding model openai/text-embedding-3-small failed") as caught:
        runtime.memory.remember("Anything.")
    assert "test-key" not in str(caught.value)
    assert not workspace.memory_dir.exists(), "nothing is written when the text cannot be embedded"


def test_loading_the_embedder_leaves_logging_alone() -> None:
    """wordllama configures the root logger at import; oboto undoes it so nothing prints into the UI."""
    import subprocess
    import sys

    code = ("import logging; from oboto.services.embeddings import WordLlamaEmbedder; "
            "WordLlamaEmbedder().embed(['hello']); "
            "print(len(logging.getLogger().handlers), logging.getLogger().level)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0", str(30)]
    assert result.stderr == ""


async def test_episodes_of_tasks_ending_together_are_stored_by_one_remember_many(runtime: Runtime,
                                                                                  monkeypatch) -> None:
    memory = runtime.memory
    batches: list[list[str]] = []
    original = memory.remember_many

    def counting(items, **options):
        batches.append([item.source for item in items])
        return original(items, **options)

    monkeypatch.setattr(memory, "remember_many", counting)
    records = [runtime.tasks.spawn(f"job {index}", f"check item {index}") for index in range(4)]
    for record in records:
        memory.record_episode(record.model_copy(update={"status": "completed", "result": f"done {record.id}"}))
    assert await memory.drain() == 0
    assert batches == [[record.id for record in records]], "one batch, each episode with its own task"
    stored = {episode.source: episode for episode in memory.list(kind="episode")}
    assert set(stored) == {record.id for record in records}
    assert all(f"done {task_id}" in episode.text for task_id, episode in stored.items())
