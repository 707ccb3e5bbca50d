"""`oboto run` and `oboto memory search` with a daemon running, against `oboto --help` (wall time, whole processes).

With a runner active these commands hand their work to it over `.oboto/runner.sock`, so they pay neither the
litellm import nor opening the vector store and its embedding model; the daemon has done one of each first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, median_ms, report, temp_workspace, time_command

from oboto.testing import Reply, ScriptedLLM

RUNS = 7


def main() -> int:
    root = temp_workspace()
    with ScriptedLLM(default=Reply(text="All done.")) as server:
        env = {**os.environ, "OBOTO_MODEL": "openai/bench", "OBOTO_API_BASE": server.base_url,
               "OPENAI_API_KEY": "bench", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        oboto = [PYTHON, "-m", "oboto", "--workspace", str(root)]
        daemon = subprocess.Popen([*oboto, "daemon", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            lock = Path(root, ".oboto", "runner.lock")
            while not (lock.exists() and lock.read_text().strip() == str(daemon.pid)):
                time.sleep(0.2)
            # one of each first, so the daemon (or, without a warm path, nothing) has loaded what they need
            subprocess.run([*oboto, "run", "hello"], env=env, check=True, capture_output=True)
            subprocess.run([*oboto, "memory", "add", "the build uses ninja"], env=env, check=True, capture_output=True)
            subprocess.run([*oboto, "memory", "search", "build"], env=env, check=True, capture_output=True)
            help_time = median_ms(time_command([*oboto, "--help"], RUNS, env))
            run_time = median_ms(time_command([*oboto, "run", "hello"], RUNS, env))
            search_time = median_ms(time_command([*oboto, "memory", "search", "which build tool"], RUNS, env))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    report("oboto run with a daemon", run_time, "ms", help_time, "oboto --help")
    report("oboto memory search with a daemon", search_time, "ms", help_time, "oboto --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
