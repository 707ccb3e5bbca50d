"""Workspace memory: recall latency at 1,000 / 10,000 / 100,000 memories, memories added per second, and the RSS
the memory layer adds.

Baselines, measured in the same run: a brute-force numpy cosine top-k over the same vectors (recall), raw Chroma
`add` of the same precomputed embeddings (adds), and the process's RSS before the memory layer is imported
(RSS). The texts are sentences from the Python standard library's comments and docstrings, paired up so that
100,000 of them are distinct.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common import percentile, report, temp_workspace

if TYPE_CHECKING:
    import numpy as np

SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
TOP_K = 5
SINGLE_ADDS = 1_000
BATCH = 1_000
BATCHED_BASELINE_ADDS = 10_000
RSS_QUERIES = 50


def sentences(count: int, seed: int = 7) -> list[str]:
    """`count` distinct, real-ish sentences: pairs of lines from the stdlib's comments and docstrings."""
    root = Path(sysconfig.get_paths()["stdlib"])
    lines: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for raw in text.splitlines():
            line = raw.strip().lstrip("# ").strip()
            if 40 <= len(line) <= 160 and re.search(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}", line) \
                    and not re.search(r"[=(){}\[\]]", line):
                lines.add(line)
    pool = sorted(lines)
    rng = random.Random(seed)
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.add(f"{rng.choice(pool)} {rng.choice(pool)}")
    ordered = sorted(chosen)
    rng.shuffle(ordered)
    return ordered


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def raw_collection(path: Path):
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    return client.create_collection("raw-baseline", embedding_function=None, metadata={"hnsw:space": "cosine"})


def raw_adds_per_second(path: Path, texts: list[str], vectors: np.ndarray, batch: int) -> float:
    """Raw Chroma `add` of precomputed embeddings, `batch` at a time, with a kind in the metadata."""
    collection = raw_collection(path)
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        part = slice(start, start + batch)
        collection.add(ids=[f"r{index}" for index in range(start, start + batch)], embeddings=vectors[part],
                       documents=texts[part], metadatas=[{"kind": "note"}] * batch)
    return len(texts) / (time.perf_counter() - started)


def recall_latencies(memory, embedder, vectors: np.ndarray, queries: list[str]) -> tuple[list[float], list[float]]:
    """Seconds per recall through the memory layer, and per brute-force top-k over `vectors` (both embed the query)."""
    import numpy as np

    layer, brute = [], []
    for query in queries:
        started = time.perf_counter()
        memory.recall(query, k=TOP_K)
        layer.append(time.perf_counter() - started)
        started = time.perf_counter()
        scores = vectors @ embedder.embed([query])[0]
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        top[np.argsort(-scores[top])]
        brute.append(time.perf_counter() - started)
    return layer, brute


def measure_rss(root: str, queries: list[str]) -> None:
    """Run in a child process: RSS before the memory layer (not even numpy is loaded), then after opening
    100,000 memories and recalling."""
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    before = rss_mib()
    for query in queries:
        runtime.memory.recall(query, k=TOP_K)
    print(f"{before} {rss_mib() - before}")


def main() -> None:
    from oboto.services.embeddings import WordLlamaEmbedder
    from oboto.services.runtime import Runtime

    texts = sentences(SIZES[-1] + QUERIES)
    corpus, queries = texts[:SIZES[-1]], texts[SIZES[-1]:]
    embedder = WordLlamaEmbedder()
    vectors = embedder.embed(corpus)
    scratch = temp_workspace()

    raw_single = raw_adds_per_second(scratch / "raw-single", corpus[:SINGLE_ADDS], vectors[:SINGLE_ADDS], 1)
    single = Runtime.open(scratch / "single").memory
    started = time.perf_counter()
    for text in corpus[:SINGLE_ADDS]:
        single.remember(text)
    report(f"memories added per second, one remember() at a time ({SINGLE_ADDS:,} into an empty store)",
           SINGLE_ADDS / (time.perf_counter() - started), "/s", raw_single, "raw Chroma add of precomputed embeddings")

    raw_batched = raw_adds_per_second(scratch / "raw-batched", corpus[:BATCHED_BASELINE_ADDS],
                                      vectors[:BATCHED_BASELINE_ADDS], BATCH)
    memory = Runtime.open(scratch / "main").memory
    filled, batched_rate = 0, 0.0
    for size in SIZES:
        started = time.perf_counter()
        for start in range(filled, size, BATCH):
            memory.remember_many(corpus[start:start + BATCH])
        if filled < BATCHED_BASELINE_ADDS <= size:
            batched_rate = (size - filled) / (time.perf_counter() - started)
        filled = size
        layer, brute = recall_latencies(memory, embedder, vectors[:size], queries)
        for name, fraction in (("p50", 0.5), ("p99", 0.99)):
            report(f"recall latency {name} at {size:,} memories", percentile(layer, fraction) * 1000, "ms",
                   percentile(brute, fraction) * 1000, "brute-force numpy cosine top-k")
    report(f"memories added per second, remember_many() in batches of {BATCH:,} (to {BATCHED_BASELINE_ADDS:,})",
           batched_rate, "/s", raw_batched, "raw Chroma add of precomputed embeddings")
    memory.close()

    child = subprocess.run([sys.executable, __file__, "--rss", str(scratch / "main"), *queries[:RSS_QUERIES]],
                           capture_output=True, text=True, check=True)
    before, added = (float(value) for value in child.stdout.split())
    report(f"RSS added by the memory layer ({SIZES[-1]:,} memories open, {RSS_QUERIES} recalls)", added, "MiB",
           before, "process RSS before it")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        measure_rss(sys.argv[2], sys.argv[3:])
    else:
        main()
