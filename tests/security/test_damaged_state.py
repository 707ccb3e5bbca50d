"""Finding 6 and 7 replayed for every kind of state file in `.oboto/` (SPEC §2) and every kind of damage: a folder
in a file's place (or a file in a folder's), a symlink out of the workspace, an unreadable file, garbage, and
well-formed content of the wrong shape.

Each case runs the CLI command that reads that file, the doctor, and a runner's start (the daemon's and the
TUI's first step) with a read of every service, all in this process. Nothing may crash or print a traceback;
the damage is moved aside as `<name>.corrupt-<timestamp>` or reported in one plain line; a link's target is
never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from oboto import cli
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined, WorkspaceWarning
from oboto.core.paths import WorkspacePaths
from oboto.services.runner import Runner
from oboto.services.runtime import Runtime

GARBAGE = b"\x00\xff\xfe{[ not what oboto wrote \x80\n"


def _file_modes_bind() -> bool:
    """Whether a chmod 000 file is unreadable to this process (not for root, which has CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder, "probe")
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return True
        return False


MODES_BIND = _file_modes_bind()
UNREADABLE_AS_ROOT = ("running as root, which reads and writes files whatever their mode, so chmod 000 damages "
                      "nothing; test_unreadable_files_without_root_powers runs these cases without them")


@dataclass(frozen=True)
class Kind:
    """One kind of state file: where it is, the command that reads it, and the damages that mean something."""

    name: str
    path: str
    """Below `.oboto/`; `{task}` stands for a task made by the set-up ("" is `.oboto/` itself)."""
    command: tuple[str, ...]
    folder: bool = False
    wrong_shape: bytes | None = None
    damages: tuple[str, ...] = ("wrong kind", "symlink out", "unreadable", "garbage", "wrong shape")
    needs_task: bool = False


LOCK_DAMAGES = ("wrong kind", "symlink out", "unreadable")
KINDS = [
    Kind("config", "config.toml", ("conversations", "list"), wrong_shape=b'shell = "loud"\n'),
    Kind("conversation index", "conversations/index.json", ("conversations", "list"),
         wrong_shape=b'{"version": 1, "conversations": [1, 2]}'),
    Kind("conversation", "conversations/chat.jsonl", ("conversations", "show", "chat"),
         wrong_shape=b'[1, 2]\n"a string"\n{"role": 5}\n'),
    Kind("task record", "tasks/{task}.json", ("tasks", "list"), wrong_shape=b'{"version": 1, "id": 5}',
         needs_task=True),
    Kind("task log", "tasks/{task}.log", ("tasks", "output", "{task}"), damages=LOCK_DAMAGES, needs_task=True),
    Kind("schedules", "schedules.json", ("schedules", "list"), wrong_shape=b'{"version": 1, "schedules": {"a": 1}}'),
    Kind("loop state", "agent-loop.json", ("loop", "status"), wrong_shape=b'{"version": 1, "state": "dancing"}'),
    Kind("questions", "questions.json", ("questions", "list"), wrong_shape=b"[]"),
    Kind("grants", "grants.json", ("doctor",), wrong_shape=b'{"version": 1, "grants": [{"scope": 3}]}'),
    Kind("emergency stop", "stop.json", ("resume",), wrong_shape=b'{"version": 1, "active": "very"}'),
    Kind("agent statistics", "agent-stats.json", ("agents", "status"), wrong_shape=b'{"version": 1, "agents": 7}'),
    Kind("agent profile", "agents/helper.md", ("agents", "list"),
         wrong_shape=b"---\nname: helper\nmax_iterations: lots\n---\nHelp.\n"),
    Kind("event log", "events.jsonl", ("events",), wrong_shape=b'[1]\n"x"\n'),
    Kind("audit log", "audit.jsonl", ("audit",), wrong_shape=b'[1]\n"x"\n'),
    Kind("memory", "memory", ("memory", "list"), folder=True,
         damages=("wrong kind", "symlink out", "unreadable", "garbage")),
    Kind("checkpoints", "checkpoints", ("changes",), folder=True,
         damages=("wrong kind", "symlink out", "unreadable", "garbage")),
    Kind("runner lock", "runner.lock", ("doctor",), damages=LOCK_DAMAGES),
    Kind("foreground lock", "foreground.lock", ("doctor",), damages=LOCK_DAMAGES),
    Kind("a document's lock", "agent-loop.json.lock", ("loop", "stop"), damages=LOCK_DAMAGES),
    Kind("logs folder", "logs", ("conversations", "list"), folder=True, damages=("wrong kind", "symlink out")),
    Kind("state folder", "", ("conversations", "list"), folder=True, damages=LOCK_DAMAGES),
]
CASES = [pytest.param(kind, damage, id=f"{kind.name}-{damage}", marks=[pytest.mark.skipif(
    not MODES_BIND and damage == "unreadable", reason=UNREADABLE_AS_ROOT)])
    for kind in KINDS for damage in kind.damages]


@dataclass
class Outside:
    """What a symlink out of the workspace points at, and how it looked before."""

    path: Path
    before: dict[str, bytes] = field(default_factory=dict)

    def snapshot(self) -> dict[str, bytes]:
        if self.path.is_file():
            return {"": self.path.read_bytes()}
        return {str(item.relative_to(self.path)): item.read_bytes() if item.is_file() else b"/"
                for item in sorted(self.path.rglob("*"))}


def run_cli(*argv: str) -> tuple[int, str]:
    """`oboto ARGV…` in this process: (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, err.getvalue()


def damage(target: Path, kind: Kind, how: str, outside_dir: Path) -> Outside | None:
    """Put `how` in the place of `target`; returns what a symlink points at."""
    if os.path.lexists(target):
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if how == "wrong kind":
        if kind.folder:
            target.write_bytes(GARBAGE)
        else:
            target.mkdir()
            (target / "inside").write_text("a folder where a file should be\n")
    elif how == "symlink out":
        outside = outside_dir / "target"
        if kind.folder:
            outside.mkdir()
            (outside / "keep.txt").write_text("not oboto's\n")
        else:
            outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
        target.symlink_to(outside)
        found = Outside(outside)
        found.before = found.snapshot()
        return found
    elif how == "unreadable":
        if kind.folder:
            target.mkdir()
        else:
            target.write_bytes(b"{}\n")
        target.chmod(0)
    elif how == "garbage":
        if kind.name == "memory":
            target.mkdir()
            (target / "chroma.sqlite3").write_bytes(GARBAGE * 64)
        elif kind.name == "checkpoints":
            target.mkdir()
            for name in ("HEAD", "config", "index"):
                (target / name).write_bytes(GARBAGE)
        else:
            target.write_bytes(GARBAGE)
    else:
        target.write_bytes(kind.wrong_shape or b"")
    return None


async def start_runner_and_read_everything(root: Path) -> list[str]:
    """What the daemon and the TUI do first, as a Runtime in this process; returns what it reported."""
    paths = WorkspacePaths.for_root(root)
    bus = EventBus(paths.events)
    said: list[str] = []
    bus.subscribe(lambda event: said.append(
        f"{event.path} {event.reason}" if isinstance(event, FileQuarantined) else event.message),
        FileQuarantined, WorkspaceWarning)
    runtime = Runtime.open(root, bus=bus)
    said += runtime.warnings
    runner = Runner(runtime)
    serving = asyncio.create_task(runner.run(wait_for_lock=False))
    assert await runner.wait_until_active(20)
    runtime.conversations.list()
    runtime.conversations.messages("chat")
    runtime.tasks.list()
    runtime.scheduler.list()
    runtime.agent_loop.status()
    runtime.questions.list()
    runtime.grants.all()
    runtime.emergency.status()
    with runtime.foreground.turn():
        runtime.foreground.is_busy()
    list(runtime.audit.entries())
    runtime.checkpoints.changes()
    runner.stop()
    await serving
    return said


def assert_plain(code: int, err: str, what: str) -> None:
    assert code in (0, 1), f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, f"{what}:\n{err}"
    for line in err.splitlines():
        assert line.startswith("oboto: "), f"{what}: not one plain line per message:\n{err}"


@pytest.mark.parametrize("kind,how", CASES)
def test_damaged_state_is_moved_aside_or_reported_and_the_app_goes_on(
    workspace: WorkspacePaths, tmp_path: Path, kind: Kind, how: str
) -> None:
    root = str(workspace.root)
    names = {}
    if kind.needs_task:
        names["task"] = Runtime.open(workspace.root).tasks.spawn("a task", "do it").id
    target = workspace.state_dir / kind.path.format(**names) if kind.path else workspace.state_dir
    command = [part.format(**names) for part in kind.command]
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    outside = damage(target, kind, how, outside_dir)
    try:
        code, err = run_cli("--workspace", root, *command)
        assert_plain(code, err, " ".join(command))
        doctor_code, doctor_err = run_cli("--workspace", root, "doctor")
        assert_plain(doctor_code, doctor_err, "doctor")
        said = asyncio.run(start_runner_and_read_everything(workspace.root))
    finally:
        if os.path.lexists(target) and not target.is_symlink():
            target.chmod(0o700)  # so pytest can clean up an unreadable case that was not moved

    moved = list(target.parent.glob(f"{target.name}.corrupt-*"))
    reported = [line for line in [*err.splitlines(), *said] if str(target) in line]
    assert moved or reported, f"{target} was neither moved aside nor reported:\n{err}\n{said}"
    if moved:
        assert reported, "moving a file aside is always said"
    if outside is not None:
        assert outside.snapshot() == outside.before, "nothing may be written through a link out of the workspace"
    code, err = run_cli("--workspace", root, *command)
    assert_plain(code, err, f"{' '.join(command)}, run again")


@pytest.mark.skipif(MODES_BIND, reason="file modes bind this process: the unreadable cases ran above")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is needed to drop root's powers")
def test_unreadable_files_without_root_powers(tmp_path: Path) -> None:
    """The unreadable cases again, in a pytest run as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
    for whom chmod 000 is real damage (uid 65534 cannot run this Python, which lives in root's home)."""
    completed = subprocess.run(
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search",
         sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", "unreadable and not powers",
         f"--basetemp={tmp_path / 'pytest'}"],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " passed" in completed.stdout and "skipped" not in completed.stdout, completed.stdout


async def test_the_terminal_ui_starts_on_damaged_state_and_says_what_it_moved(
    workspace: WorkspacePaths, tmp_path: Path
) -> None:
    from tui_helpers import running_app, settle

    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0\n")
    workspace.config.mkdir()
    workspace.schedules.write_bytes(GARBAGE)
    workspace.agent_loop.write_bytes(b"[]")
    workspace.events.symlink_to(outside)
    async with running_app(workspace) as (app, pilot):
        def notes() -> str:
            return "\n".join(note.message for note in app._notifications)

        await settle(pilot, lambda: all(str(path) in notes() for path in (
            workspace.config, workspace.schedules, workspace.agent_loop, workspace.events)))
    assert outside.read_text() == "root:x:0:0\n"
    for path in (workspace.config, workspace.schedules, workspace.agent_loop, workspace.events):
        assert list(workspace.state_dir.glob(f"{path.name}.corrupt-*")), path
