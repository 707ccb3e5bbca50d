"""Every location oboto reads or writes, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from oboto.core.atomic import atomic_write_bytes
from oboto.core.events import FileQuarantined
from oboto.core.quarantine import real_folder
from oboto.core.safe_open import OBOTO_DIR_NAME


def user_agents_dir() -> Path:
    """The person's own agent profiles, shared by every workspace."""
    return user_config_dir() / "agents"


def user_config_dir() -> Path:
    """The user's oboto folder: `$OBOTO_CONFIG_DIR`, else `$XDG_CONFIG_HOME/oboto`, else `~/.config/oboto`."""
    explicit = os.environ.get("OBOTO_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "oboto"


@dataclass(frozen=True)
class WorkspacePaths:
    """The files of one workspace (the folder a person opened oboto in)."""

    root: Path

    @classmethod
    def for_root(cls, root: str | os.PathLike[str]) -> "WorkspacePaths":
        return cls(Path(root).expanduser().resolve())

    @cached_property
    def state_dir(self) -> Path:
        return self.root / OBOTO_DIR_NAME  # cached, as tasks_dir: a spawn builds several paths below them

    @property
    def config(self) -> Path:
        return self.state_dir / "config.toml"

    @property
    def conversations_dir(self) -> Path:
        return self.state_dir / "conversations"

    @property
    def conversation_index(self) -> Path:
        return self.conversations_dir / "index.json"

    @property
    def conversation_archive_dir(self) -> Path:
        """Schedule-run notices retired from the conversations: `<name>-<YYYY-MM>.jsonl`."""
        return self.conversations_dir / "archive"

    def conversation_file(self, name: str) -> Path:
        return self.conversations_dir / f"{name}.jsonl"

    def conversation_turn_lock(self, name: str) -> Path:
        """Held by the one turn running in a conversation, in whichever process (`core.locks.TURN_LOCK_SUFFIX`)."""
        return self.conversations_dir / f"{name}.turn.lock"

    @cached_property
    def tasks_dir(self) -> Path:
        return self.state_dir / "tasks"

    def task_record(self, task_id: str) -> Path:
        return self.tasks_dir / f"{task_id}.json"

    def task_log(self, task_id: str) -> Path:
        return self.tasks_dir / f"{task_id}.log"

    def task_history(self, task_id: str) -> Path:
        """The messages of a task's agent, so `continue_task` can go on where it stopped."""
        return self.tasks_dir / "history" / f"{task_id}.json"

    @property
    def task_archive_dir(self) -> Path:
        """Retired task records with their logs, one append-only file per month (`<YYYY-MM>.jsonl`)."""
        return self.tasks_dir / "archive"

    @property
    def agents_dir(self) -> Path:
        """The workspace's own agent profiles (`<name>.md`), which win over the user's and the shipped ones."""
        return self.state_dir / "agents"

    @property
    def commands_dir(self) -> Path:
        """The workspace's custom slash commands (`<name>.md`, a prompt template with `$ARGUMENTS`)."""
        return self.state_dir / "commands"

    @property
    def agent_stats(self) -> Path:
        """Per agent profile: runs, failures, the last run, tokens and cost."""
        return self.state_dir / "agent-stats.json"

    @property
    def schedules(self) -> Path:
        return self.state_dir / "schedules.json"

    @property
    def agent_loop(self) -> Path:
        return self.state_dir / "agent-loop.json"

    @property
    def questions(self) -> Path:
        return self.state_dir / "questions.json"

    @property
    def memory_dir(self) -> Path:
        return self.state_dir / "memory"

    @property
    def events(self) -> Path:
        return self.state_dir / "events.jsonl"

    @property
    def audit(self) -> Path:
        """Every tool call of every agent with its permission decision (append + fsync, rotated)."""
        return self.state_dir / "audit.jsonl"

    @property
    def grants(self) -> Path:
        """Allow rules the person added with "always", per conversation, task or schedule."""
        return self.state_dir / "grants.json"

    @property
    def input_history(self) -> Path:
        """What the person sent from the TUI's input, for ↑/↓ (services/input_history.py)."""
        return self.state_dir / "input-history"

    @property
    def model_introductions(self) -> Path:
        """The models already introduced to the person in this workspace (said once, on first use)."""
        return self.state_dir / "model-introductions.json"

    @property
    def emergency_stop(self) -> Path:
        """What `oboto stop` cancelled and paused, so `oboto resume` undoes exactly that."""
        return self.state_dir / "stop.json"

    @property
    def runner_lock(self) -> Path:
        return self.state_dir / "runner.lock"

    @property
    def runner_socket(self) -> Path:
        """Where the runner takes commands from short CLI processes (services/command_socket.py)."""
        return self.state_dir / "runner.sock"

    @property
    def foreground_lock(self) -> Path:
        """Held (shared) while the person's own turn runs, so background agents know to stay read-only."""
        return self.state_dir / "foreground.lock"

    @property
    def checkpoints_dir(self) -> Path:
        """The checkpoint store: a git directory of oboto's own (never the workspace's `.git`)."""
        return self.state_dir / "checkpoints"

    @property
    def obotoignore(self) -> Path:
        """Gitignore-style patterns of workspace files that checkpoints leave out."""
        return self.root / ".obotoignore"

    @property
    def state_gitignore(self) -> Path:
        """`*`, so the workspace's own repository never shows or commits `.oboto/`."""
        return self.state_dir / ".gitignore"

    @property
    def logs_dir(self) -> Path:
        """Diagnostic logs (litellm's own logging goes here, never to the terminal)."""
        return self.state_dir / "logs"

    def ensure(self) -> list[FileQuarantined]:
        """Create the state folders (cheap and idempotent); what stands in a folder's place (a file, a link) is
        moved aside first, and the returned events say so."""
        moved = [event for folder in (self.state_dir, self.conversations_dir, self.tasks_dir, self.logs_dir)
                 if (event := real_folder(folder)) is not None]
        if not os.path.lexists(self.state_gitignore):
            atomic_write_bytes(self.state_gitignore, b"*\n")
        return moved
