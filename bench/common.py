"""Shared bits of the benchmark scripts: timing, a temp workspace, the one-line report format."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def report(name: str, value: float, unit: str, baseline: float, baseline_name: str) -> None:
    """One line: `name: value unit (ratio vs baseline)`."""
    ratio = value / baseline if baseline else float("inf")
    print(f"{name}: {value:.2f} {unit} ({ratio:.2f}x vs {baseline_name} {baseline:.2f} {unit})")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_command(argv: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - started)
    return samples


def temp_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="oboto-bench-"))


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


PYTHON = sys.executable
