"""The embedded local model (`local/smollm2`) on the questions people ask first, offline.

A sample workspace is written to a temp folder, then each question is asked in a conversation of its own
through the whole agent path (Runtime.chat: system prompt, tools, the tool loop), exactly as `oboto run`
would. Each answer is checked against a criterion (words it must contain, case-blind). The script prints one
line per question, then the success count and the median time per answer, compared with a plain reply of
the same model with no tools (one short answer, same length cap) measured in the same run.

Memory context and checkpoints are off, so the time is the model's; run it with `nice -n 10`: it keeps
both cores busy for a few minutes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import report, temp_workspace

SAMPLE_FILES = {
    "README.md": (
        "# Gallop\n\n"
        "Gallop counts the stripes of zebras in photos.\n"
        "Run `python gallop.py photo.jpg` to print how many stripes the zebra has.\n"
    ),
    "gallop.py": (
        "import sys\n\n\n"
        "def count_stripes(path):\n"
        '    """How many stripes the zebra in the photo at `path` has."""\n'
        "    return len(open(path, 'rb').read()) % 50\n\n\n"
        "if __name__ == '__main__':\n"
        "    print(count_stripes(sys.argv[1]))\n"
    ),
    "stripes.yaml": "colour: black and white\nmax_stripes: 42\n",
    "config.toml": "[server]\nhost = \"127.0.0.1\"\nport = 8765\n",
    "notes.txt": "Remember to feed the zebra on Tuesday.\n",
    "herd/members.py": (
        "def herd_size(zebras):\n"
        '    """The number of zebras in a herd."""\n'
        "    return len(zebras)\n"
    ),
}


@dataclass(frozen=True)
class Question:
    prompt: str
    must_contain: tuple[str, ...]
    """Every one of these must be in the answer (case-blind) for it to count."""
    must_not_contain: tuple[str, ...] = ()
    """None of these may be: a list of every file is no answer to "which file"."""


QUESTIONS = (
    Question("What files are in this project?",
             ("README.md", "config.toml", "gallop.py", "herd", "notes.txt", "stripes.yaml")),
    Question("Summarise the README.", ("stripes", "zebra")),
    Question("Where is the function count_stripes defined?", ("gallop.py",), ("members.py",)),
    Question("What colour does stripes.yaml set?", ("black",)),
    Question("Which port does config.toml say the server uses?", ("8765",)),
    Question("What is in notes.txt?", ("tuesday",)),
    Question("Which file defines herd_size?", ("members.py",), ("gallop.py",)),
    Question("What is max_stripes in stripes.yaml?", ("42",)),
    Question("Which file mentions Tuesday?", ("notes.txt",), ("stripes.yaml",)),
    Question("What files are in the herd folder?", ("members.py",), ("notes.txt",)),
    Question("What command does the README say to run?", ("gallop.py photo.jpg",)),
    Question("What host is set in config.toml?", ("127.0.0.1",)),
)
BASELINE_PROMPT = "Say hello in one short sentence."
BASELINE_RUNS = 3


def write_sample(root: Path) -> None:
    for name, text in SAMPLE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def passed(question: Question, answer: str) -> bool:
    said = answer.lower()
    return (all(word.lower() in said for word in question.must_contain)
            and not any(word.lower() in said for word in question.must_not_contain))


async def ask_all(root: Path) -> list[tuple[Question, str, float, str]]:
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    results = []
    try:
        for number, question in enumerate(QUESTIONS, start=1):
            conversation = f"q{number}"
            runtime.conversations.create(conversation)
            started = time.perf_counter()
            outcome = await runtime.chat(conversation, question.prompt)
            seconds = time.perf_counter() - started
            results.append((question, outcome.final_text or "", seconds,
                            "" if outcome.ok else f"{outcome.status}: {outcome.error}" if outcome.error else outcome.status))
    finally:
        await runtime.aclose()
    return results


async def plain_reply_seconds() -> float:
    """Median time of one short untooled reply of the same model, the engine already loaded."""
    from oboto.core.config import LLMSettings
    from oboto.llm.local import LocalModelClient

    client = LocalModelClient("local/smollm2", LLMSettings(max_tokens=64))
    samples = []
    for _ in range(BASELINE_RUNS):
        started = time.perf_counter()
        await client.complete([{"role": "user", "content": BASELINE_PROMPT}])
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    for key in [key for key in os.environ if key.startswith("OBOTO_") or key.endswith("_API_KEY")]:
        del os.environ[key]
    os.environ.update(OBOTO_MODEL="local/smollm2", OBOTO_MEMORY__CONTEXT_K="0", OBOTO_CHECKPOINTS__ENABLED="false",
                      OBOTO_CONFIG_DIR=str(temp_workspace()))
    root = temp_workspace()
    write_sample(root)
    results = asyncio.run(ask_all(root))
    baseline = asyncio.run(plain_reply_seconds())
    successes = 0
    for question, answer, seconds, failure in results:
        ok = passed(question, answer)
        successes += ok
        shown = " ".join(answer.split())[:110]
        print(f"{'PASS' if ok else 'fail'} {seconds:5.1f} s  {question.prompt}  -> {failure or shown!r}",
              file=sys.stderr)
    total = len(results)
    print(f"local tasks answered: {successes} of {total} ({successes / total:.0%} of the questions)")
    report("local tasks time per answer", statistics.median(seconds for _, _, seconds, _ in results), "s",
           baseline, "one plain reply without tools")


if __name__ == "__main__":
    main()
