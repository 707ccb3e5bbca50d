"""Process start to the first interactive frame: oboto's TUI against a bare Textual app.

Each run is a whole new process (interpreter start-up included) that exits as soon as its first
screen is mounted and painted, so the figure is what a person waits for after typing `oboto`.
"""

from __future__ import annotations

import sys

from common import PYTHON, median_ms, report, temp_workspace, time_command

RUNS = 7

BARE = """
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App):
    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()

async def first_frame(pilot):
    await pilot.pause()
    pilot.app.exit()

Bare().run(headless=True, size=(120, 40), auto_pilot=first_frame)
"""

OBOTO = """
import sys
from oboto.tui.app import make_app

async def first_frame(pilot):
    await pilot.pause()
    await pilot.app.quit_now()

make_app(sys.argv[1]).run(headless=True, size=(120, 40), auto_pilot=first_frame)
"""


def main() -> None:
    workspace = str(temp_workspace())
    baseline = median_ms(time_command([PYTHON, "-c", BARE], RUNS))
    oboto = median_ms(time_command([PYTHON, "-c", OBOTO, workspace], RUNS))
    report("TUI start to first frame", oboto, "ms", baseline, "bare Textual app")


if __name__ == "__main__":
    sys.exit(main())
