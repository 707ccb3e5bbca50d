"""The agent loop's briefing with many schedules: its size at 100 and 10,000 schedules, and the CPU of a daemon
whose loop plays every 10 s with 10,000 schedules against the same daemon with none.

The daemons are real `oboto daemon` processes answering to the scripted model server; CPU is read from
/proc/<pid>/stat over the same wall time, after the first tick (which loads litellm) has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from common import PYTHON, temp_workspace

from oboto.core.atomic import atomic_write_json
from oboto.core.models import utc_now
from oboto.testing import Reply, ScriptedLLM

COUNTS = (100, 10_000)
INTERVAL_SECONDS = 10
MEASURED_SECONDS = 30.0
BRIEFING_LIMIT_KB = 16


def workspace_with(count: int) -> Path:
    """A workspace with `count` schedules, a few of them having run and failed, all due a day from now."""
    root = temp_workspace()
    (root / ".oboto").mkdir()
    now = utc_now()
    later = (now + timedelta(days=1)).isoformat()
    schedules = [{"id": f"s-{index:08x}", "name": f"nightly check number {index}", "query": "check the build",
                  "interval_seconds": 3600, "next_run_at": later, "run_count": 3,
                  "last_run_at": (now - timedelta(minutes=index % 600)).isoformat(),
                  "last_result": "failed: the build broke" if index % 50 == 0 else "all good",
                  "consecutive_failures": 1 if index % 50 == 0 else 0} for index in range(count)]
    atomic_write_json(root / ".oboto" / "schedules.json", {"version": 1, "schedules": schedules})
    return root


def env_for(server: ScriptedLLM) -> dict[str, str]:
    return {**os.environ, "OBOTO_MODEL": "openai/bench", "OBOTO_API_BASE": server.base_url,
            "OPENAI_API_KEY": "bench", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OBOTO_NO_RUNNER_SOCKET": "1"}


def oboto(root: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run([PYTHON, "-m", "oboto", "--workspace", str(root), *args], check=True, env=env,
                          capture_output=True, text=True).stdout


def briefing_bytes(count: int, env: dict[str, str]) -> int:
    return len(oboto(workspace_with(count), env, "loop", "briefing").encode())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def finished_task_count(root: Path) -> int:
    records = (json.loads(path.read_bytes()) for path in (root / ".oboto" / "tasks").glob("t-*.json"))
    return sum(1 for record in records if record.get("finished_at"))


def daemon_cpu_percent(count: int, server: ScriptedLLM) -> float:
    """CPU of a daemon with `count` schedules and the loop playing, in percent of one core."""
    root = workspace_with(count)
    env = env_for(server)
    daemon = subprocess.Popen([PYTHON, "-m", "oboto", "--workspace", str(root), "daemon", "--quiet"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        oboto(root, env, "loop", "play", "--interval", str(INTERVAL_SECONDS))
        deadline = time.monotonic() + 600
        while finished_task_count(root) < 1 and time.monotonic() < deadline:  # the first tick loads litellm
            time.sleep(0.5)
        before, started = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(MEASURED_SECONDS)
        return (cpu_seconds(daemon.pid) - before) / (time.monotonic() - started) * 100
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def main() -> None:
    with ScriptedLLM(default=Reply(text="Nothing needs doing now.")) as server:
        env = env_for(server)
        small, large = (briefing_bytes(count, env) for count in COUNTS)
        print(f"briefing at {COUNTS[1]} schedules: {large / 1024:.2f} KB ({large / small:.2f}x vs "
              f"{COUNTS[0]} schedules {small / 1024:.2f} KB; target <= {BRIEFING_LIMIT_KB} KB)")
        idle = daemon_cpu_percent(0, server)
        crowded = daemon_cpu_percent(COUNTS[1], server)
        print(f"daemon CPU, loop playing every {INTERVAL_SECONDS} s, {COUNTS[1]} schedules: {crowded:.2f} % "
              f"({crowded / max(idle, 0.01):.2f}x vs no schedules {idle:.2f} %; target <= 1.2x)")


if __name__ == "__main__":
    main()
