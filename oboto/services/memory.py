"""MemoryStore: the workspace's shared vector memory, an embedded Chroma store under `.oboto/memory/`.

One collection holds every memory, with `kind`, `source`, `tags` and times as metadata; the collection's own
metadata names the embedder that made its vectors, so a store made with another model is re-embedded, never
mixed (see `memory_chroma`). Chroma is imported and opened on first use only: `oboto --help` and the TUI's
first frame never pay for it.

Every operation holds two locks: one per store folder inside this process (agents remember at once from worker
threads) and `.oboto/memory.lock` across processes, so concurrent writers never lose or duplicate a memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oboto.core.bus import EventBus
from oboto.core.config import Settings
from oboto.core.events import EpisodesPruned, Event, MemoryForgotten, MemoryStored, WorkspaceWarning
from oboto.core.locks import locked
from oboto.core.memory_rules import MAX_QUERY_CHARS, MAX_RECALL, MAX_TAGS
from oboto.core.models import utc_now
from oboto.core.paths import WorkspacePaths
from oboto.services.embeddings import Embedder, embedder_for
from oboto.services.memory_chroma import WRITE_BATCH, ChromaCollection, result_rows
from oboto.services.memory_models import (
    MemoryEntry,
    MemoryInputError,
    MemoryRecord,
    MemoryStoreError,
    MemoryUnavailable,
    MetadataValue,
    RecalledMemory,
    check_extra,
    check_memory_id,
    clean_kind,
    clean_tags,
    clean_text,
    episode_of,
    memory_section,
    new_memory_id,
    text_digest,
)

if TYPE_CHECKING:
    import numpy as np

    from oboto.services.task_models import TaskRecord

# A `where` filter on a query costs about 100x at 100,000 memories, so kinds are filtered from a wider page.
EPISODE_BATCH = 64
"""Episodes stored by one `remember_many` (one embedding call)."""
NEAREST_CANDIDATES = 10
KIND_OVERFETCH = 4
CHARS_PER_TOKEN = 4

_folder_locks: dict[Path, threading.Lock] = {}
_folder_locks_guard = threading.Lock()


@dataclass(frozen=True)
class _Row:
    """A cleaned text to store and what goes with it."""

    text: str
    tags: tuple[str, ...]
    source: str | None
    extra: dict[str, MetadataValue]


def _folder_lock(folder: Path) -> threading.Lock:
    """One lock per store folder, shared by every MemoryStore of this process (they share Chroma's system too)."""
    with _folder_locks_guard:
        return _folder_locks.setdefault(folder, threading.Lock())


class MemoryStore:
    """The only writer of `.oboto/memory/`; every method is thread-safe and blocking (call it via to_thread)."""

    def __init__(self, paths: WorkspacePaths, settings: Settings, bus: EventBus, *,
                 embedder: Embedder | None = None) -> None:
        self.folder = paths.memory_dir
        self.settings = settings.memory
        self.bus = bus
        self._app_settings = settings
        self._litellm_log = paths.logs_dir / "litellm.log"
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._lock = _folder_lock(self.folder)
        self._chroma = ChromaCollection(self.folder, paths.logs_dir / "memory.log", lambda: self.embedder, self._embed)
        self._outbox: list[Event] = []
        """Events of the current operation, published once it succeeded and the locks are released."""
        self._pending: set[asyncio.Task[None]] = set()
        """The task storing queued episodes, while there is one."""
        self._episodes: list[MemoryEntry] = []
        self._storing = 0
        """How many episodes the batch being stored holds."""

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, created on first use."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    self._embedder = embedder_for(self._app_settings, log_path=self._litellm_log)
        return self._embedder

    def exists(self) -> bool:
        """Whether a store was ever created here (checked without opening Chroma)."""
        return self._chroma.exists()

    def warm_up(self) -> None:
        """Open an existing store and load the embedder now (call it in a thread), so later calls are quick."""
        if self.exists():
            self.count()
            self.embedder.embed(["warm up"])

    # ----- writing -----------------------------------------------------------------------------

    def remember(self, text: str, *, kind: str = "note", tags: Sequence[str] = (), source: str | None = None,
                 extra: dict[str, MetadataValue] | None = None) -> MemoryRecord:
        """Store `text`; a near-identical memory of the same kind is updated instead of copied."""
        return self.remember_many([text], kind=kind, tags=tags, source=source, extra=extra)[0]

    def remember_many(self, items: Sequence[str | MemoryEntry], *, kind: str = "note", tags: Sequence[str] = (),
                      source: str | None = None, extra: dict[str, MetadataValue] | None = None) -> list[MemoryRecord]:
        """Store several texts at once (one embedding call, batched writes), with the same dedup as `remember`.

        A `MemoryEntry` brings its own tags (added to `tags`), source and details (over `extra`)."""
        kind, shared_tags, shared_extra = clean_kind(kind), clean_tags(tags), check_extra(extra)
        rows = [_Row(clean_text(item), shared_tags, source, shared_extra) if isinstance(item, str) else
                _Row(clean_text(item.text), clean_tags((*shared_tags, *item.tags)), item.source or source,
                     {**shared_extra, **check_extra(item.extra)}) for item in items]
        records: list[MemoryRecord] = []
        # Slices bound the in-batch comparison; later slices find earlier ones through the store itself.
        for start in range(0, len(rows), WRITE_BATCH):
            batch = rows[start:start + WRITE_BATCH]
            vectors = self._embed([row.text for row in batch])
            with self._exclusive():
                collection = self._chroma.open()
                records += self._write(collection, batch, vectors, kind)
        return records

    def _write(self, collection: Any, rows: list[_Row], vectors: "np.ndarray", kind: str) -> list[MemoryRecord]:
        """Add or update under the lock. A text merges into a same-kind memory, stored before or earlier in this
        batch, with the same words (whatever the case or punctuation) or else the closest above the threshold."""
        import numpy as np

        threshold = self.settings.dedup_threshold
        digests = [text_digest(kind, row.text) for row in rows]
        same_words = self._same_words(collection, digests)
        stored = self._nearest(collection, vectors, kind)
        pending: dict[str, tuple[MemoryRecord, Any]] = {}
        new_ids: set[str] = set()
        results: list[MemoryRecord] = []
        # The vectors of this batch's pending records, one row each, to find in-batch near-duplicates.
        matrix = np.empty_like(vectors)
        slots: list[str] = []
        slot_of: dict[str, int] = {}
        now = utc_now()
        for row, (entry, vector) in enumerate(zip(rows, vectors)):
            text, tags, source, extra = entry.text, entry.tags, entry.source, entry.extra
            base = same_words.get(digests[row])
            if base is None:
                best = threshold
                if stored[row] is not None and stored[row][1] >= best:
                    base, best = stored[row]
                if slots:
                    scores = matrix[: len(slots)] @ vector
                    position = int(np.argmax(scores))
                    if scores[position] >= best:
                        base = pending[slots[position]][0]
            if base is not None and base.id in pending:
                base = pending[base.id][0]  # this batch already changed it: merge into the newest version
            if base is None:
                record = MemoryRecord(id=new_memory_id(), text=text, kind=kind, tags=tags, source=source,
                                      created_at=now, updated_at=now, extra=extra)
                new_ids.add(record.id)
            else:
                record = MemoryRecord(
                    id=base.id, text=text, kind=kind, tags=tuple(dict.fromkeys((*base.tags, *tags)))[:MAX_TAGS],
                    source=source or base.source, created_at=base.created_at, updated_at=now, times=base.times + 1,
                    extra={**base.extra, **extra},
                )
            pending[record.id] = (record, vector)
            if record.id not in slot_of:
                slot_of[record.id] = len(slots)
                slots.append(record.id)
            matrix[slot_of[record.id]] = vector
            same_words[digests[row]] = record
            results.append(record)
            self._outbox.append(MemoryStored(memory_id=record.id, memory_kind=kind, source=record.source,
                                             updated=record.times > 1))
        self._put(collection.add, [row for memory_id, row in pending.items() if memory_id in new_ids])
        self._put(collection.update, [row for memory_id, row in pending.items() if memory_id not in new_ids])
        return results

    def _put(self, method: Any, rows: list[tuple[MemoryRecord, Any]]) -> None:
        """Chroma's add or update for (record, vector) rows."""
        import numpy as np

        if rows:
            self._chroma.call(lambda: method(
                ids=[record.id for record, _ in rows], embeddings=np.stack([vector for _, vector in rows]),
                documents=[record.text for record, _ in rows], metadatas=[record.to_metadata() for record, _ in rows],
            ))

    def _same_words(self, collection: Any, digests: list[str]) -> dict[str, MemoryRecord]:
        """Stored memories with the same kind and words as a new text, by digest."""
        wanted = sorted(set(digests))
        where = {"digest": wanted[0]} if len(wanted) == 1 else {"digest": {"$in": wanted}}
        found = self._chroma.call(lambda: collection.get(where=where, include=["documents", "metadatas"]))
        records = [MemoryRecord.from_stored(memory_id, document, metadata)
                   for memory_id, document, metadata in zip(found["ids"], found["documents"], found["metadatas"])]
        return {text_digest(record.kind, record.text): record for record in records}

    def _nearest(self, collection: Any, vectors: "np.ndarray", kind: str) -> list[tuple[MemoryRecord, float] | None]:
        """For each vector, the closest stored memory of `kind` among the nearest few, with its similarity."""
        found = self._chroma.call(lambda: collection.query(
            query_embeddings=vectors, n_results=NEAREST_CANDIDATES, include=["documents", "metadatas", "distances"]))
        nearest: list[tuple[MemoryRecord, float] | None] = []
        for row in result_rows(found):
            match = next((item for item in row if item[2].get("kind") == kind), None)
            nearest.append((MemoryRecord.from_stored(*match[:3]), 1.0 - match[3]) if match else None)
        return nearest

    def forget(self, memory_id: str) -> MemoryRecord:
        """Delete one memory and return it; an unknown id is a MemoryInputError."""
        check_memory_id(memory_id)
        record = None
        if self.exists():
            with self._exclusive():
                collection = self._chroma.open()
                record = self._lookup(collection, memory_id)
                if record is not None:
                    self._chroma.call(lambda: collection.delete(ids=[memory_id]))
                    self._outbox.append(MemoryForgotten(memory_id=memory_id))
        if record is None:
            raise MemoryInputError(f"no memory with id {memory_id}")
        return record

    def prune_episodes(self, older_than: datetime) -> int:
        """Delete the episodes not stored or updated since `older_than`; returns how many went. Facts and
        procedures are never pruned. A workspace without a store is answered without opening Chroma."""
        if not self.exists():
            return 0
        where = {"$and": [{"kind": "episode"}, {"updated_ts": {"$lt": older_than.timestamp()}}]}
        with self._exclusive():
            collection = self._chroma.open()
            ids = self._chroma.read_all(collection, where, [])["ids"]
            for start in range(0, len(ids), WRITE_BATCH):
                batch = ids[start:start + WRITE_BATCH]
                self._chroma.call(lambda: collection.delete(ids=batch))
            if ids:
                self._outbox.append(EpisodesPruned(count=len(ids), older_than=older_than))
        return len(ids)

    # ----- reading -----------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryRecord:
        """One memory by id; an unknown id is a MemoryInputError."""
        check_memory_id(memory_id)
        record = None
        if self.exists():
            with self._exclusive():
                record = self._lookup(self._chroma.open(), memory_id)
        if record is None:
            raise MemoryInputError(f"no memory with id {memory_id}")
        return record

    def _lookup(self, collection: Any, memory_id: str) -> MemoryRecord | None:
        found = self._chroma.call(lambda: collection.get(ids=[memory_id], include=["documents", "metadatas"]))
        if not found["ids"]:
            return None
        return MemoryRecord.from_stored(found["ids"][0], found["documents"][0], found["metadatas"][0])

    def recall(self, query: str, *, k: int = 5, kind: str | None = None) -> list[RecalledMemory]:
        """The `k` memories most similar to `query` (optionally of one kind), best first, with their scores."""
        return self.recall_many([query], k=k, kind=kind)

    def recall_many(self, queries: Sequence[str], *, k: int = 5, kind: str | None = None) -> list[RecalledMemory]:
        """The `k` memories most similar to any of `queries`, each scored by its best match, best first."""
        cleaned = [clean_text(query, what="query", limit=MAX_QUERY_CHARS) for query in queries]
        if not 1 <= k <= MAX_RECALL:
            raise MemoryInputError(f"k must be between 1 and {MAX_RECALL}")
        kind = clean_kind(kind) if kind is not None else None
        # No store yet: answered without loading Chroma or the embedder (a new workspace's first turns stay fast).
        if not cleaned or not self.exists():
            return []
        vectors = self._embed(cleaned)
        with self._exclusive():
            per_query = self._search(self._chroma.open(), vectors, k, kind)
        best: dict[str, RecalledMemory] = {}
        for row in per_query:
            for memory_id, document, metadata, distance in row:
                if memory_id not in best or 1.0 - distance > best[memory_id].score:
                    best[memory_id] = RecalledMemory(MemoryRecord.from_stored(memory_id, document, metadata),
                                                     1.0 - distance)
        return sorted(best.values(), key=lambda memory: (-memory.score, memory.record.id))[:k]

    def _search(self, collection: Any, vectors: "np.ndarray", k: int, kind: str | None) -> list[list[tuple]]:
        """The `k` nearest (id, document, metadata, distance) per vector; with `kind`, filtered from a wider page,
        and only when that page holds too few of the kind, from Chroma's (slower) filtered query."""
        fetch = k if kind is None else k * KIND_OVERFETCH
        include = ["documents", "metadatas", "distances"]
        found = self._chroma.call(lambda: collection.query(query_embeddings=vectors, n_results=fetch, include=include))
        results = []
        for position, row in enumerate(result_rows(found)):
            chosen = [item for item in row if kind is None or item[2].get("kind") == kind][:k]
            if len(chosen) < k and len(row) == fetch:
                vector = vectors[position:position + 1]
                chosen = result_rows(self._chroma.call(lambda: collection.query(
                    query_embeddings=vector, n_results=k, where={"kind": kind}, include=include)))[0]
            results.append(chosen)
        return results

    def list(self, kind: str | None = None, limit: int = 50) -> list[MemoryRecord]:
        """Memories, most recently stored or updated first."""
        where = {"kind": clean_kind(kind)} if kind is not None else None
        if limit < 1:
            raise MemoryInputError("limit must be 1 or more")
        if not self.exists():
            return []
        with self._exclusive():
            collection = self._chroma.open()
            found = self._chroma.read_all(collection, where, ["metadatas"])
            order = sorted(zip(found["ids"], found["metadatas"]),
                           key=lambda item: (-float(item[1].get("updated_ts") or 0), item[0]))
            wanted = [memory_id for memory_id, _ in order[:limit]]
            if not wanted:
                return []
            chosen = self._chroma.call(lambda: collection.get(ids=wanted, include=["documents", "metadatas"]))
        by_id = {memory_id: MemoryRecord.from_stored(memory_id, document, metadata)
                 for memory_id, document, metadata in zip(chosen["ids"], chosen["documents"], chosen["metadatas"])}
        return [by_id[memory_id] for memory_id in wanted if memory_id in by_id]

    def count(self, kind: str | None = None) -> int:
        where = {"kind": clean_kind(kind)} if kind is not None else None
        if not self.exists():
            return 0
        with self._exclusive():
            collection = self._chroma.open()
            if where is None:
                return self._chroma.call(collection.count)
            return len(self._chroma.read_all(collection, where, [])["ids"])

    # ----- what agents are offered without asking -----------------------------------------------

    def context_section(self, prompt: str) -> str:
        """The `Memory` section of a foreground turn's system message: relevant memories within the token cap."""
        settings = self.settings
        query = prompt.strip()[:MAX_QUERY_CHARS]
        if settings.context_k == 0 or not query or not self.exists():
            return ""
        found = [memory for memory in self.recall(query, k=settings.context_k)
                 if memory.score >= settings.context_min_score]
        return memory_section(found, settings.context_token_cap * CHARS_PER_TOKEN)

    async def context_for_turn(self, prompt: str) -> str:
        """`context_section` off the event loop; a failing memory costs the turn its memories, never the turn."""
        try:
            return await asyncio.to_thread(self.context_section, prompt)
        except Exception as failure:
            self.bus.publish(WorkspaceWarning(message=f"memories were left out of this turn: {failure}"))
            return ""

    def briefing_memories(self, goals: Sequence[str], recent: Sequence[str], *, fallback: str = "") -> tuple[str, ...]:
        """Lines for the loop's briefing: the top memories for its goals and recent activity (or `fallback`)."""
        queries = [text.strip()[:MAX_QUERY_CHARS] for text in (*goals, *recent) if text.strip()]
        if not queries and fallback.strip():
            queries = [fallback.strip()[:MAX_QUERY_CHARS]]
        if self.settings.briefing_k == 0 or not queries or not self.exists():
            return ()
        try:
            found = self.recall_many(queries, k=self.settings.briefing_k)
        except Exception as failure:  # the loop must tick even when its memory cannot be read
            self.bus.publish(WorkspaceWarning(message=f"the agent loop's briefing has no memories: {failure}"))
            return ()
        return tuple(memory.record.line() for memory in found)

    def record_episode(self, record: "TaskRecord") -> None:
        """Remember what a finished task or loop tick was asked and how it ended.

        On an event loop the episode joins a batch stored in a thread (`remember_many`), so no task waits for
        its own: the episodes of tasks ending while a batch is stored go together in the next one."""
        text, tags, extra = episode_of(record)
        entry = MemoryEntry(text, tuple(tags), record.id, extra)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._store_episodes([entry])
            return
        self._episodes.append(entry)
        if not self._pending:
            task = loop.create_task(self._store_queued_episodes())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _store_queued_episodes(self) -> None:
        while self._episodes:
            batch, self._episodes = self._episodes[:EPISODE_BATCH], self._episodes[EPISODE_BATCH:]
            self._storing = len(batch)
            try:
                await asyncio.to_thread(self._store_episodes, batch)
            finally:
                self._storing = 0

    def _store_episodes(self, entries: list[MemoryEntry]) -> None:
        try:
            self.remember_many(entries, kind="episode")
        except Exception as failure:  # a lost episode is worth a warning, not a broken runner
            tasks = ", ".join(entry.source or "?" for entry in entries)
            self.bus.publish(WorkspaceWarning(message=f"the episodes of tasks {tasks} were not remembered: {failure}"))

    async def drain(self, timeout: float | None = None) -> int:
        """Wait until every episode being stored in the background is written, or `timeout` seconds have passed;
        returns how many episodes are still to be stored (their thread finishes on its own, unless the process
        ends)."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self._pending:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                break
            await asyncio.wait(list(self._pending), timeout=left)
        return len(self._episodes) + self._storing if self._pending else 0

    def close(self) -> None:
        """Let go of Chroma's files; the next operation opens the store again."""
        with self._lock:
            self._chroma.close()

    # ----- around every operation ---------------------------------------------------------------

    def _embed(self, texts: list[str]) -> "np.ndarray":
        try:
            return self.embedder.embed(texts)
        except MemoryStoreError:
            raise
        except Exception as failure:
            raise MemoryUnavailable(f"the embedding model {self.embedder.name} failed: {failure}") from None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Both locks for one operation; its events are published once they are released (none if it failed)."""
        events: list[Event] = []
        with self._lock:
            try:
                with locked(self.folder) as moved_lock:  # Chroma's folder, not a JSON document
                    if moved_lock is not None:
                        self._chroma.notices.append(moved_lock)
                    yield
                    self._chroma.settled()
                events = self._outbox
            finally:
                events, self._chroma.notices, self._outbox = [*self._chroma.notices, *events], [], []
        for event in events:
            self.bus.publish(event)
