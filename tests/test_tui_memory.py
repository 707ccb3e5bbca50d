"""The memory view (F7), driven with the keyboard: search among distractors, filter by kind, delete with `d` `d`,
stay current when agents remember something, Esc back to the main screen."""

from __future__ import annotations

import asyncio

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from oboto.core.paths import WorkspacePaths
from oboto.services.memory_models import MemoryInputError, MemoryRecord
from oboto.services.runtime import Runtime
from oboto.testing import ScriptedLLM
from oboto.tui.app import ObotoApp
from oboto.tui.commands import palette_commands
from oboto.tui.screens.confirm import ConfirmDialog
from oboto.tui.screens.help import help_sections
from oboto.tui.screens.main import MainScreen
from oboto.tui.screens.memory import MemoryList, MemoryScreen

from tui_helpers import running_app, settle

TARGET = "The staging database password is rotated every Monday by the ops team."
SUBJECTS = ["billing service", "search index", "CI pipeline", "frontend build", "mobile app", "metrics dashboard",
            "auth gateway", "email worker", "nightly backup job", "reporting database"]
KINDS = ["fact", "episode", "procedure", "note"]


def seed(runtime: Runtime) -> MemoryRecord:
    """Twenty distractors of every kind and, among them, the one memory about the password; returns that one."""
    for index, subject in enumerate(SUBJECTS):
        runtime.memory.remember(f"The {subject} listens on port {3000 + index * 7}.", kind=KINDS[index % 4],
                                tags=[subject.split()[0]])
        runtime.memory.remember(f"The {subject} is owned by team number {index}.", kind=KINDS[(index + 1) % 4])
    return runtime.memory.remember(TARGET, kind="fact", tags=["ops", "database"], source="t-0000abcd")


def shown_ids(results: MemoryList) -> list[str | None]:
    return [results.get_option_at_index(index).id for index in range(results.option_count)]


async def open_memory_view(app: ObotoApp, pilot: Pilot) -> tuple[MemoryScreen, MemoryList]:
    """F7 from the main screen's chat input; returns once the newest memories are listed."""
    await pilot.press("f7")
    await settle(pilot, lambda: isinstance(app.screen, MemoryScreen))
    screen = app.screen
    results = screen.query_one(MemoryList)
    total = app.runtime.memory.count()
    await settle(pilot, lambda: not results.loading and len(shown_ids(results)) == min(total, 50))
    return screen, results


async def search(pilot: Pilot, screen: MemoryScreen, query: str) -> None:
    """Type `query` (the view searches once typing pauses) and wait for its results."""
    await pilot.press(*("space" if char == " " else char for char in query))
    results = screen.query_one(MemoryList)
    await settle(pilot, lambda: results.border_title.endswith("best matches") and not results.border_subtitle)


def asked_to_delete(app: ObotoApp, memory_id: str) -> bool:
    """Whether the confirmation dialog is open, asking to delete `memory_id`."""
    return isinstance(app.screen, ConfirmDialog) and memory_id in app.screen.title_text


@pytest.fixture
def seeded(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> str:
    """The id of the password memory, stored with its distractors before the app starts."""
    return seed(Runtime.open(workspace.root)).id


async def test_a_search_finds_the_relevant_memory_first_and_esc_goes_back(workspace: WorkspacePaths,
                                                                          seeded: str) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        screen, results = await open_memory_view(app, pilot)
        total = app.runtime.memory.count()
        assert total == 21
        assert screen.title == "Memory · 21 memories"
        assert results.border_title == "Newest 21"
        assert isinstance(app.focused, Input)

        await search(pilot, screen, "when is the database password rotated")
        assert shown_ids(results)[0] == seeded
        assert results.border_title == "20 best matches"
        detail = str(screen.query_one("#memory-text", Static).content)
        assert TARGET in detail and "ops, database" in detail and "t-0000abcd" in detail

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_kind_filter_lists_only_that_kind(workspace: WorkspacePaths, seeded: str) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        screen, results = await open_memory_view(app, pilot)
        procedures = app.runtime.memory.count("procedure")
        assert 0 < procedures < 21

        # Tab to the kind select, open it, move from "all kinds" past fact and episode to procedure.
        await pilot.press("tab", "enter", "down", "down", "down", "enter")
        await settle(pilot, lambda: screen.title.endswith(f"· {procedures} procedures")
                     and len(shown_ids(results)) == procedures)
        kinds = {app.runtime.memory.get(memory_id).kind for memory_id in shown_ids(results)}
        assert kinds == {"procedure"}

        await pilot.press("shift+tab")
        await search(pilot, screen, "database password")
        assert seeded not in shown_ids(results)  # a fact: filtered out even though it matches best


async def test_d_asks_then_deletes_the_highlighted_memory(workspace: WorkspacePaths, seeded: str) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        memory = app.runtime.memory
        screen, results = await open_memory_view(app, pilot)
        await search(pilot, screen, "database password")
        await pilot.press("enter")  # to the results, the best match highlighted
        assert app.focused is results and results.highlighted_option.id == seeded

        await pilot.press("d")
        await settle(pilot, lambda: asked_to_delete(app, seeded))  # `d` only asks
        assert memory.get(seeded).text == TARGET

        await pilot.press("y")
        await settle(pilot, lambda: seeded not in shown_ids(results))
        with pytest.raises(MemoryInputError):
            memory.get(seeded)
        assert memory.count() == 20
        await settle(pilot, lambda: screen.title == "Memory · 20 memories")
        assert results.highlighted_option.id in shown_ids(results)  # the next memory is highlighted


async def test_the_confirmation_names_the_highlighted_memory_and_n_keeps_it(
        workspace: WorkspacePaths, seeded: str) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        screen, results = await open_memory_view(app, pilot)
        await pilot.press("enter", "d")  # the newest, the password memory, is highlighted first
        await settle(pilot, lambda: asked_to_delete(app, seeded))
        await pilot.press("n")
        await settle(pilot, lambda: app.screen is screen)
        assert app.runtime.memory.get(seeded).text == TARGET
        await pilot.press("down")
        second = results.highlighted_option.id
        await pilot.press("d")
        await settle(pilot, lambda: asked_to_delete(app, second))
        await pilot.press("y")
        await settle(pilot, lambda: app.runtime.memory.count() == 20)
        assert app.runtime.memory.get(seeded).text == TARGET
        with pytest.raises(MemoryInputError):
            app.runtime.memory.get(second)


async def test_the_view_shows_what_agents_remember_while_it_is_open(workspace: WorkspacePaths, seeded: str) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        screen, results = await open_memory_view(app, pilot)
        # Stored from a worker thread, as an agent's remember tool does; the MemoryStored event reaches the view.
        record = await asyncio.to_thread(app.runtime.memory.remember, "Deploys happen on Thursdays.", kind="procedure")
        await settle(pilot, lambda: shown_ids(results)[:1] == [record.id])
        assert screen.title == "Memory · 22 memories"


async def test_the_palette_and_the_help_offer_the_memory_view(workspace: WorkspacePaths, llm_env: ScriptedLLM) -> None:
    async with running_app(workspace, size=(80, 24), start_runner=False) as (app, pilot):
        command = next(command for command in palette_commands(app, app.screen)
                       if command.title == "Memory: search and manage")
        command.callback()
        await settle(pilot, lambda: isinstance(app.screen, MemoryScreen))
        ids = {binding.id for section in help_sections(app.screen_stack, type(app)) for binding in section.bindings}
        assert {"memory", "memory-back", "memory-delete", "memory-focus-search"} <= ids
        await pilot.press("f7")  # already open: not pushed twice
        await pilot.pause()
        assert sum(isinstance(screen, MemoryScreen) for screen in app.screen_stack) == 1
