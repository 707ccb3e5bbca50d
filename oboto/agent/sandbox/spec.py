"""What oboto asks the launcher to run, and what the launcher reports back: both plain JSON.

The launcher reads and writes these as plain JSON objects with the same field names, without this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class CommandSpec:
    """One command and every protection it runs under."""

    command: str
    timeout_seconds: float
    status_fd: int
    """The launcher writes its CommandReport here when everything it started has ended."""
    temp_parent: str
    """Where the command's private temporary folder is made (and removed when it ends)."""
    writable: list[str] = field(default_factory=list)
    read_only: list[str] = field(default_factory=list)
    """Folders inside `writable` the command may only read (oboto's state folder), by a mount namespace."""
    network: bool = True
    landlock_abi: int | None = None
    """Apply Landlock at this ABI; None: no Landlock (off, or unavailable and not required)."""
    required: bool = False
    """Refuse to run the command if Landlock cannot be applied after all."""
    harden: bool = True
    """no_new_privs and no process-inspection capabilities (everything but sandbox = "off")."""
    address_space_bytes: int | None = None
    cpu_seconds: int | None = None
    file_size_bytes: int | None = None
    processes: int | None = None
    leftover_grace_seconds: float = 0.5
    """How long background processes may go on after the shell exits before they are stopped."""
    kill_grace_seconds: float = 2.0
    """Between SIGTERM and SIGKILL when the command is stopped."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class CommandReport:
    """How the command ended, from the launcher that supervised it."""

    exit_code: int | None = None
    """The shell's exit code, or minus the signal that killed it."""
    timed_out: bool = False
    cancelled: bool = False
    left_behind: bool = False
    """Processes were still running after the shell exited, and were stopped."""
    sandbox: str = ""
    """What the command ran under, e.g. "landlock ABI 7", or why it ran without."""
    unsandboxed: bool = False
    read_only: bool = False
    """The spec's read-only folders were mounted read-only for the command."""
    read_only_refused: str | None = None
    """Why they could not be (the kernel refused a mount namespace)."""
    refused: str | None = None
    """Why the command was not run at all."""
    survivors: bool = False
    """Some descendant could not be ended (it ignored SIGKILL, e.g. stuck in the kernel)."""

    @classmethod
    def from_json(cls, text: str) -> "CommandReport":
        """The launcher's report; fields it did not mention keep their defaults."""
        return cls(**json.loads(text))
