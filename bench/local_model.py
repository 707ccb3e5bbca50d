"""The embedded local model (`local/smollm2`): time to load, generation speed and first-token latency.

Each figure is compared with a baseline measured in the same run: loading with reading the model file's
bytes from disk, and generating through oboto's client with the same generation done by llama-cpp-python
directly on the same loaded model (same prompt, greedy, same length) — the ratio is oboto's overhead.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from common import report, timed
from oboto.core.config import LLMSettings
from oboto.llm.local import (
    DEFAULT_TEMPERATURE,
    REPEAT_PENALTY,
    LocalEngine,
    LocalModelClient,
    local_model_path,
    shared_engine,
)
from oboto.llm.resolve import LOCAL_MODEL

RUNS = 3
TOKENS = 200
MESSAGES = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


def through_oboto(client: LocalModelClient, engine: LocalEngine) -> tuple[float, float]:
    """(tokens per second, seconds to the first token) of one reply through oboto's client."""
    engine.load().reset()  # no prompt reuse from the previous run, as for the baseline
    first: list[float] = []

    async def reply() -> Any:
        return await client.complete(MESSAGES, on_text=lambda piece: first or first.append(time.perf_counter()))

    started = time.perf_counter()
    response = asyncio.run(reply())
    elapsed = time.perf_counter() - started
    return response.usage.completion_tokens / elapsed, first[0] - started


def through_llama_cpp(llama: Any) -> tuple[float, float]:
    """The same reply with llama-cpp-python's own chat completion, streamed."""
    llama.reset()
    first = None
    finish_reason = None
    started = time.perf_counter()
    for chunk in llama.create_chat_completion(MESSAGES, max_tokens=TOKENS, temperature=DEFAULT_TEMPERATURE,
                                              repeat_penalty=REPEAT_PENALTY, stream=True):
        choice = chunk["choices"][0]
        if choice["delta"].get("content"):
            first = first or time.perf_counter()
        finish_reason = choice.get("finish_reason") or finish_reason
    elapsed = time.perf_counter() - started
    # Streamed chunks can join tokens, so the count comes from running to the limit, as oboto's run does.
    assert finish_reason == "length", "the baseline stopped early; the comparison needs equal lengths"
    return TOKENS / elapsed, (first or started) - started


def main() -> None:
    path = local_model_path(LOCAL_MODEL)
    read_seconds = timed(path.read_bytes)
    engine = shared_engine(LOCAL_MODEL)  # the one oboto's client uses, so both sides run the same model
    load_seconds = timed(engine.load)
    report("local model load (first, with the llama_cpp import)", load_seconds * 1000, "ms",
           read_seconds * 1000, "reading the GGUF file")

    client = LocalModelClient(LOCAL_MODEL, LLMSettings(max_tokens=TOKENS))
    oboto_runs = [through_oboto(client, engine) for _ in range(RUNS)]
    direct_runs = [through_llama_cpp(engine.load()) for _ in range(RUNS)]
    report("local model generation", statistics.median(run[0] for run in oboto_runs), "tokens/s",
           statistics.median(run[0] for run in direct_runs), "llama-cpp-python directly")
    report("local model first token", statistics.median(run[1] for run in oboto_runs) * 1000, "ms",
           statistics.median(run[1] for run in direct_runs) * 1000, "llama-cpp-python directly")


if __name__ == "__main__":
    main()
