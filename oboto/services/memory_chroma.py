"""The Chroma side of the memory store: open it, reopen it after another process wrote, move a damaged store
aside, re-embed a store made with another model, and read it in pages.

The MemoryStore holds its locks around every call made here. Chroma keeps its vector index in memory and does
not see another process's writes, so the store is reopened whenever its database files changed since this
process last looked. A store that cannot be opened is moved aside whole (`memory.corrupt-<timestamp>`) and
replaced by an empty one; it is never deleted.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from oboto.core.events import Event, MemoryReembedded
from oboto.core.log_files import StateLogHandler
from oboto.core.quarantine import move_aside, real_folder
from oboto.services.memory_models import MemoryUnavailable, MetadataValue

if TYPE_CHECKING:
    import numpy as np

    from oboto.services.embeddings import Embedder

COLLECTION = "memories"
# A re-embedding is built here and renamed over COLLECTION only when complete, so a crash loses nothing.
REEMBED_COLLECTION = "memories-reembed"
STORE_FILE = "chroma.sqlite3"
STORE_FORMAT = 1
WRITE_BATCH = 1000
# Chroma's `get` fails on very large results ("too many SQL variables"): whole-store reads go in pages.
READ_PAGE = 5000
# Open failures that say nothing about the store's own bytes: never a reason to move it aside.
TRANSIENT_OPEN_FAILURES = ("locked", "permission", "read-only", "readonly", "no space", "disk full", "busy")

Row = tuple[str, str, dict[str, Any], float]


class ChromaCollection:
    """The store's one Chroma collection, opened lazily; not thread-safe (the MemoryStore serialises calls)."""

    def __init__(self, folder: Path, log_path: Path, embedder: Callable[[], "Embedder"],
                 embed: Callable[[list[str]], "np.ndarray"]) -> None:
        self.folder = folder
        self.log_path = log_path
        self._embedder = embedder
        self._embed = embed
        self._client: Any = None
        self._collection: Any = None
        self._seen: tuple[Any, ...] | None = None
        self.notices: list[Event] = []
        """Events to publish whatever happens next (a store moved aside, a re-embedding)."""

    def exists(self) -> bool:
        """Whether a store was ever created here, or something damaged stands in its place (which opening moves
        aside); checked without opening Chroma."""
        try:
            if not stat.S_ISDIR(os.stat(self.folder, follow_symlinks=False).st_mode):
                return True
            os.stat(self.folder / STORE_FILE)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def call(self, function: Callable[[], Any]) -> Any:
        """Run one Chroma call; its failures become MemoryUnavailable."""
        try:
            return function()
        except BaseException as failure:
            if not is_library_failure(failure):
                raise
            raise MemoryUnavailable(f"the memory store failed: {failure}") from None

    def stamp(self) -> tuple[Any, ...]:
        """Identity, time and size of the database files: they change when any process writes."""
        parts: list[Any] = []
        for name in (STORE_FILE, f"{STORE_FILE}-wal"):
            try:
                info = os.stat(self.folder / name)
            except FileNotFoundError:
                parts.append(None)
            else:
                parts.append((info.st_ino, info.st_mtime_ns, info.st_size))
        return tuple(parts)

    def settled(self) -> None:
        """Our own operation is over: what the files look like now is what this process has seen."""
        self._seen = self.stamp()

    def open(self) -> Any:
        """The collection, reopened when another process wrote since we last looked."""
        if self._collection is not None and self.stamp() == self._seen:
            return self._collection
        self.close()
        if (moved := real_folder(self.folder, create=False)) is not None:
            self.notices.append(moved)  # Chroma would write through a link in the store's place
        _quiet_chroma(self.log_path)
        import chromadb  # outside the guard below: a missing library is no reason to move a store aside

        try:
            collection = self._connect(chromadb)
        except BaseException as failure:
            if not is_library_failure(failure):
                raise
            self.close()
            _drop_cached_system(self.folder)
            if not self.exists() or isinstance(failure, OSError) \
                    or any(word in str(failure).lower() for word in TRANSIENT_OPEN_FAILURES):
                raise MemoryUnavailable(f"the memory store {self.folder} could not be opened: {failure}") from None
            self._quarantine(str(failure) or type(failure).__name__)
            collection = self.call(lambda: self._connect(chromadb))
        if collection is None:
            metadata, client = self._metadata(), self._client
            collection = self.call(lambda: client.create_collection(COLLECTION, embedding_function=None,
                                                                    metadata=metadata))
        self._collection = self._match_embedder(collection)
        return self._collection

    def close(self) -> None:
        client, self._client, self._collection, self._seen = self._client, None, None, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken client has nothing left to save
                pass

    def read_all(self, collection: Any, where: dict[str, Any] | None, include: list[str]) -> dict[str, list]:
        """Every matching memory, read page by page (the caller holds the locks, so no write interleaves)."""
        result: dict[str, list] = {"ids": [], **{field: [] for field in include}}
        while True:
            offset = len(result["ids"])
            page = self.call(lambda: collection.get(where=where, include=include, limit=READ_PAGE, offset=offset))
            for field in result:
                result[field] += page[field]
            if len(page["ids"]) < READ_PAGE:
                return result

    def _connect(self, chromadb: Any) -> Any:
        """Open the client and the collection (None when the store has none yet), finishing a re-embedding."""
        from chromadb.config import Settings as ChromaSettings

        self.folder.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(path=str(self.folder),
                                                 settings=ChromaSettings(anonymized_telemetry=False))
        names = {getattr(item, "name", item) for item in self._client.list_collections()}
        if REEMBED_COLLECTION in names:
            if COLLECTION in names:
                self._client.delete_collection(REEMBED_COLLECTION)  # an unfinished re-embedding; the original is whole
            else:
                self._client.get_collection(REEMBED_COLLECTION).modify(name=COLLECTION)  # finished, not yet renamed
                names.add(COLLECTION)
        if COLLECTION not in names:
            return None
        collection = self._client.get_collection(COLLECTION, embedding_function=None)
        collection.count()  # touch the segments so a damaged store fails here, at open
        return collection

    def _metadata(self) -> dict[str, MetadataValue]:
        embedder = self._embedder()
        return {"hnsw:space": "cosine", "embedder": embedder.name, "dimension": embedder.dimension,
                "format": STORE_FORMAT}

    def _quarantine(self, reason: str) -> None:
        """Move the whole store folder aside (never delete it) and report where it went."""
        self.notices.append(move_aside(
            self.folder, f"the memory store could not be opened ({reason}); a new, empty store was started"))

    def _match_embedder(self, collection: Any) -> Any:
        """`collection` when its vectors come from our embedder; otherwise every memory re-embedded with it."""
        metadata = collection.metadata or {}
        # Names, not dimensions, are compared: a remote model's dimension costs a call to learn.
        if metadata.get("embedder") == self._embedder().name:
            return collection
        previous = f"{metadata.get('embedder') or 'an unknown embedder'} ({metadata.get('dimension') or '?'}-d)"
        stored = self.read_all(collection, None, ["documents", "metadatas"])
        client, wanted = self._client, self._metadata()
        fresh = self.call(lambda: client.create_collection(REEMBED_COLLECTION, embedding_function=None,
                                                           metadata=wanted))
        for start in range(0, len(stored["ids"]), WRITE_BATCH):
            part = slice(start, start + WRITE_BATCH)
            vectors = self._embed([document or " " for document in stored["documents"][part]])
            self.call(lambda: fresh.add(ids=stored["ids"][part], embeddings=vectors,
                                        documents=stored["documents"][part], metadatas=stored["metadatas"][part]))
        self.call(lambda: client.delete_collection(COLLECTION))
        self.call(lambda: fresh.modify(name=COLLECTION))
        self.notices.append(MemoryReembedded(
            previous=previous, embedder=f"{wanted['embedder']} ({wanted['dimension']}-d)", count=len(stored["ids"])))
        return self.call(lambda: client.get_collection(COLLECTION, embedding_function=None))


def result_rows(found: dict[str, Any]) -> list[list[Row]]:
    """A Chroma query result as one list of (id, document, metadata, distance) per query vector."""
    return [list(zip(ids, documents, metadatas, distances)) for ids, documents, metadatas, distances
            in zip(found["ids"], found["documents"], found["metadatas"], found["distances"])]


def is_library_failure(failure: BaseException) -> bool:
    """Exceptions, and the Rust panics chromadb raises as BaseException; never interrupts or exits."""
    return isinstance(failure, Exception) or type(failure).__name__ == "PanicException"


def _drop_cached_system(folder: Path) -> None:
    """Forget Chroma's per-path system after a failed open: it caches one even when starting it failed, and
    every later client for the path would get that broken one. One still in use by a client is left alone."""
    from chromadb.api.shared_system_client import SharedSystemClient

    if SharedSystemClient._identifier_to_refcount.get(str(folder), 0) > 0:
        return
    system = SharedSystemClient._identifier_to_system.pop(str(folder), None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # a system that never started has nothing to stop
            pass


def _quiet_chroma(log_path: Path) -> None:
    """Chroma's log records go to `.oboto/logs/memory.log`, never to the terminal the TUI draws on."""
    logger = logging.getLogger("chromadb")
    if logger.handlers:
        return
    handler = StateLogHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
