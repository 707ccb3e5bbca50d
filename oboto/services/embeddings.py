"""Text embedders for the memory store: wordllama's bundled model (offline) by default, or a litellm model.

Every embedder returns float32 rows of unit length, so a dot product is the cosine similarity.
Nothing heavy is imported here at module level: numpy, wordllama and litellm load on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from oboto.services.memory_models import MemoryUnavailable

if TYPE_CHECKING:
    import numpy as np

    from oboto.core.config import Settings

WORDLLAMA_CONFIG = "l2_supercat"
WORDLLAMA_DIMENSION = 256
EMBED_BATCH = 256
DIMENSION_PROBE = "dimension probe"

_wordllama_loading = threading.Lock()
_wordllama_model: Any = None
# wordllama makes no thread-safety promise and the one model is shared: one caller at a time.
_wordllama_use = threading.Lock()


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `name` and `dimension` identify it in the store's metadata."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> "np.ndarray": ...


def normalise(vectors: Any) -> "np.ndarray":
    """Rows scaled to unit length (a zero row stays zero) as float32."""
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _load_wordllama() -> Any:
    """The bundled wordllama model, loaded once per process (thread-safe) without any download."""
    global _wordllama_model
    if _wordllama_model is None:
        with _wordllama_loading:
            if _wordllama_model is None:
                wordllama, WordLlama = _import_wordllama()

                # The weights ship inside the package; pointing the cache there with downloads off keeps it offline.
                _wordllama_model = WordLlama.load(
                    config=WORDLLAMA_CONFIG, dim=WORDLLAMA_DIMENSION, cache_dir=Path(wordllama.__file__).parent,
                    disable_download=True,
                )
    return _wordllama_model


def _import_wordllama() -> tuple[Any, Any]:
    """Import wordllama, undoing the `logging.basicConfig()` it runs at import (a stderr handler on the root
    logger would print every library's INFO lines into the terminal UI and the CLI's output)."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama
    from wordllama import WordLlama

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return wordllama, WordLlama


class WordLlamaEmbedder:
    """wordllama's static 256-d embeddings: numpy only, no network, about 40,000 short texts a second."""

    name = f"wordllama/{WORDLLAMA_CONFIG}"
    dimension = WORDLLAMA_DIMENSION

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        model = _load_wordllama()
        with _wordllama_use:
            vectors = model.embed(list(texts), batch_size=EMBED_BATCH)
        return normalise(vectors)


class LiteLLMEmbedder:
    """An embedding model reached through litellm (`OBOTO_EMBEDDING_MODEL`); its dimension is probed once."""

    def __init__(self, model: str, *, api_base: str | None = None, timeout: float = 60.0,
                 log_path: Path | None = None) -> None:
        self.model = model
        self.api_base = api_base
        self.timeout = timeout
        self.log_path = log_path
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        return f"litellm/{self.model}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed([DIMENSION_PROBE]).shape[1])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        from oboto.llm.client import classify_error
        from oboto.llm.litellm_setup import load_litellm

        litellm = load_litellm(self.log_path)
        rows: list[list[float]] = []
        items = list(texts)
        for start in range(0, len(items), EMBED_BATCH):
            options: dict[str, Any] = {"model": self.model, "input": items[start:start + EMBED_BATCH],
                                       "timeout": self.timeout}
            if self.api_base:
                options["api_base"] = self.api_base
            try:
                response = litellm.embedding(**options)
            except Exception as error:  # any provider failure becomes one plain, scrubbed sentence
                reason = classify_error(error, model=self.model)
                raise MemoryUnavailable(f"the embedding model {self.model} failed: {reason}") from None
            rows.extend(_embedding_of(item) for item in response.data)
        vectors = normalise(rows)
        self._dimension = self._dimension or int(vectors.shape[1])
        return vectors


def _embedding_of(item: Any) -> list[float]:
    return item["embedding"] if isinstance(item, dict) else item.embedding


def embedder_for(settings: "Settings", *, log_path: Path | None = None) -> Embedder:
    """The configured embedder: a litellm model when `embedding_model` is set, else the bundled wordllama."""
    if settings.embedding_model:
        return LiteLLMEmbedder(settings.embedding_model, api_base=settings.memory.embedding_api_base,
                               timeout=settings.llm.timeout_seconds, log_path=log_path)
    return WordLlamaEmbedder()
