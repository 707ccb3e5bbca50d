"""A soak: `oboto daemon` with S schedules every 60 s against the scripted server, for N minutes.

Per window it prints the tasks finished, the daemon's CPU (share of one core), its RSS and the schedules' fire
lag (when a run was recorded against when it was due); at the end, the last window's CPU per task against the
first's (the runner's cost must not grow with the records piling up), the RSS growth and the fire lag p99.

    python bench/soak.py [--minutes N] [--schedules S] [--window SECONDS]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta

import orjson

from common import PYTHON, percentile, temp_workspace
from oboto.core.atomic import atomic_write_json
from oboto.core.models import utc_now
from oboto.testing import Reply, ScriptedLLM

INTERVAL_SECONDS = 60
REPLY = Reply(text="Checked the build; nothing new.", chunk_size=16)
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.5


def daemon_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def daemon_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class EventTail:
    """Counts `task:finished` lines appended to events.jsonl since the last look (rotation starts it over)."""

    def __init__(self, path) -> None:
        self.path = path
        self.offset = 0

    def finished(self) -> int:
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return 0
        if size < self.offset:
            self.offset = 0
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        whole = data[: data.rfind(b"\n") + 1]
        self.offset += len(whole)
        return whole.count(b'"type":"task:finished"')


class FireLag:
    """Watches schedules.json: each new `last_run_at` against the `next_run_at` it was due at."""

    def __init__(self, path) -> None:
        self.path = path
        self.due: dict[str, str | None] = {}
        self.last: dict[str, str | None] = {}
        self.samples: list[float] = []

    def look(self) -> None:
        try:
            schedules = orjson.loads(open(self.path, "rb").read())["schedules"]
        except (FileNotFoundError, orjson.JSONDecodeError):
            return
        for schedule in schedules:
            sid, ran = schedule["id"], schedule.get("last_run_at")
            if ran and ran != self.last.get(sid) and self.due.get(sid):
                lag = datetime.fromisoformat(ran) - datetime.fromisoformat(self.due[sid])
                self.samples.append(max(0.0, lag.total_seconds()))
            self.last[sid], self.due[sid] = ran, schedule.get("next_run_at")


def write_schedules(path, count: int) -> None:
    start = utc_now() + timedelta(seconds=5)
    atomic_write_json(path, {"version": 1, "schedules": [
        {"id": f"s-{index:08x}", "name": f"check {index}", "query": f"check the build ({index})",
         "interval_seconds": INTERVAL_SECONDS, "skip_if_running": True,
         "next_run_at": (start + timedelta(seconds=INTERVAL_SECONDS * index / count)).isoformat()}
        for index in range(count)]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument("--window", type=float, default=60, help="seconds per window (default 60)")
    args = parser.parse_args()
    root = temp_workspace()
    state = root / ".oboto"
    state.mkdir()
    (state / "config.toml").write_text('[schedules]\nnotify = "never"\n')
    write_schedules(state / "schedules.json", args.schedules)
    with ScriptedLLM(default=REPLY) as server:
        env = {**os.environ, "OBOTO_MODEL": "openai/soak", "OBOTO_API_BASE": server.base_url,
               "OPENAI_API_KEY": "soak", "OBOTO_TASKS__MAX_CONCURRENT": "10"}
        daemon = subprocess.Popen([PYTHON, "-m", "oboto", "--workspace", str(root), "daemon"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            windows = run_windows(daemon.pid, state, args)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
    summarise(windows)


def run_windows(pid: int, state, args) -> list[tuple[int, float, float]]:
    events, lag = EventTail(state / "events.jsonl"), FireLag(state / "schedules.json")
    windows: list[tuple[int, float, float]] = []
    deadline = time.monotonic() + args.minutes * 60
    print(f"soak: {args.schedules} schedules every {INTERVAL_SECONDS}s, {args.minutes:g} min, "
          f"windows of {args.window:g}s")
    print(f"{'window':>6} {'tasks':>6} {'cpu%':>6} {'cpu ms/task':>11} {'rss MB':>7} {'lag p99 s':>9} {'records':>8}")
    done_total = 0
    while time.monotonic() < deadline:
        cpu_start, wall_start, lag_start, done = daemon_cpu_seconds(pid), time.monotonic(), len(lag.samples), 0
        window_end = min(deadline, wall_start + args.window)
        while time.monotonic() < window_end:
            time.sleep(POLL_SECONDS)
            lag.look()
            done += events.finished()
        share = (daemon_cpu_seconds(pid) - cpu_start) / (time.monotonic() - wall_start)
        rss, lags = daemon_rss_mb(pid), lag.samples[lag_start:]
        done_total += done
        per_task = share * (time.monotonic() - wall_start) * 1000 / done if done else float("nan")
        windows.append((done, per_task, rss))
        print(f"{len(windows):>6} {done:>6} {share * 100:>5.1f}% {per_task:>11.1f} {rss:>7.1f} "
              f"{percentile(lags, 0.99) if lags else float('nan'):>9.2f} {done_total:>8}", flush=True)
    lag_p99 = percentile(lag.samples, 0.99) if lag.samples else float("nan")
    print(f"fire lag p99 over the run: {lag_p99:.2f} s ({len(lag.samples)} runs)")
    return windows


def summarise(windows: list[tuple[int, float, float]]) -> None:
    usable = [window for window in windows if window[0]]
    if len(usable) < 3:
        print("soak: too few windows with finished tasks to compare")
        return
    first, last = usable[1], usable[-1]  # the first window holds start-up (imports, warm-up): the second is the base
    print(f"soak CPU per task, last window: {last[1]:.1f} ms ({last[1] / first[1]:.2f}x vs second window "
          f"{first[1]:.1f} ms)")
    print(f"soak RSS, last window: {last[2]:.1f} MB ({last[2] / first[2]:.2f}x vs second window {first[2]:.1f} MB)")


if __name__ == "__main__":
    main()
