"""Running the real `oboto` command in a subprocess, the way a person or a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(extra or {})
    return env


def oboto(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180,
          input: str | None = None) -> subprocess.CompletedProcess:
    """Run `oboto`; standard input is `input` when given, else empty. The timeout is a bound, not a target: a
    cold litellm import on a loaded core can take a minute."""
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        [sys.executable, "-m", "oboto", "--workspace", str(root), *args],
        capture_output=True, text=True, timeout=timeout, env=cli_env(env), **stdin,
    )


def oboto_process(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "oboto", "--workspace", str(root), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(env), stdin=subprocess.DEVNULL,
    )
