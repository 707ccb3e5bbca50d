"""The TUI's idle memory and how soon it is gone after ctrl+q, against a bare Textual app that imports litellm.

Each app runs headless in its own process with a model configured, idles for a few seconds (long enough for
any start-up work to begin), reports its RSS, then gets ctrl+q; the exit time runs from that key press
(CLOCK_MONOTONIC, shared by both processes) to the moment the process has ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from common import PYTHON, report, temp_workspace

RUNS = 3
IDLE_SECONDS = 15.0

PILOT = f"""
import os, time

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

async def idle_then_quit(pilot):
    await pilot.pause()
    started = time.monotonic()
    while time.monotonic() - started < {IDLE_SECONDS}:
        await pilot.pause(0.1)
    print("rss", rss_mib(), flush=True)
    print("quit", time.monotonic(), flush=True)
    await pilot.press("ctrl+q")
"""

BARE = PILOT + """
import litellm
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()

Bare().run(headless=True, size=(120, 40), auto_pilot=idle_then_quit)
"""

OBOTO = PILOT + """
import sys
from oboto.cli import main

sys.argv = ["oboto", "--workspace", sys.argv[1]]
import oboto.tui.app as tui_app
real_run = tui_app.ObotoApp.run
tui_app.ObotoApp.run = lambda self, **kw: real_run(self, headless=True, size=(120, 40), auto_pilot=idle_then_quit,
                                                    **kw)
sys.exit(main())
"""


def one_run(script: str, *args: str) -> tuple[float, float]:
    """(idle RSS in MiB, seconds from ctrl+q to the process's end)."""
    env = {**os.environ, "OBOTO_MODEL": "openai/gpt-4o-mini", "OPENAI_API_KEY": "sk-bench",
           "OBOTO_API_BASE": "http://127.0.0.1:9", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    process = subprocess.Popen([PYTHON, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    assert process.stdout is not None
    rss = quit_at = 0.0
    for line in process.stdout:
        word, value = line.split()[:2] if len(line.split()) >= 2 else ("", "0")
        if word == "rss":
            rss = float(value)
        elif word == "quit":
            quit_at = float(value)
            break
    process.stdout.close()
    process.wait()
    return rss, time.monotonic() - quit_at


def main() -> None:
    bare, oboto = [], []
    for _run in range(RUNS):
        bare.append(one_run(BARE))
        oboto.append(one_run(OBOTO, str(temp_workspace())))
    bare_rss, oboto_rss = min(rss for rss, _ in bare), min(rss for rss, _ in oboto)
    bare_exit, oboto_exit = sorted(exit for _, exit in bare)[RUNS // 2], sorted(exit for _, exit in oboto)[RUNS // 2]
    report("TUI idle RSS", oboto_rss, "MiB", bare_rss, "bare Textual app importing litellm")
    report("TUI exit after ctrl+q", oboto_exit * 1000, "ms", bare_exit * 1000, "bare Textual app importing litellm")


if __name__ == "__main__":
    sys.exit(main())
