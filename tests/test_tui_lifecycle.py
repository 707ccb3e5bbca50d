"""The TUI process: it loads no model library or vector store until they are needed, and ctrl+q ends it even
while a start-up thread is stuck."""

from __future__ import annotations

import subprocess
import sys

from cli_helpers import cli_env

SCRIPT = """
import sys, threading
import oboto.llm.litellm_setup as litellm_setup
import oboto.tui.app as tui_app
from oboto.cli import main

def stuck_forever(*_args, **_kwargs):
    print("model loading started", flush=True)
    threading.Event().wait()  # a library import that never finishes

litellm_setup.load_litellm = stuck_forever

async def idle_type_then_quit(pilot):
    for _ in range(20):
        await pilot.pause(0.05)
    heavy = [name for name in ("litellm", "chromadb", "wordllama", "onnxruntime") if name in sys.modules]
    print("idle, loaded:", " ".join(heavy) or "nothing", flush=True)
    await pilot.press("h", "i")
    for _ in range(40):
        await pilot.pause(0.05)
    await pilot.press("ctrl+q")

real_run = tui_app.ObotoApp.run
tui_app.ObotoApp.run = lambda self, **kw: real_run(self, headless=True, size=(100, 30), auto_pilot=idle_type_then_quit,
                                                    **kw)
sys.argv = ["oboto", "--workspace", sys.argv[1]]
sys.exit(main())
"""


def test_an_idle_tui_loads_no_model_and_ctrl_q_ends_it_with_a_thread_stuck(workspace, llm_env) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(workspace.root)], capture_output=True, text=True,
                          timeout=120, env=cli_env(), stdin=subprocess.DEVNULL)
    lines = done.stdout.splitlines()
    assert "idle, loaded: nothing" in lines, done.stdout + done.stderr
    assert "model loading started" in lines, "typing the first message starts loading the model library"
    assert done.returncode == 0, done.stderr
