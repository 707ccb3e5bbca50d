"""Which protections a command gets, from the workspace's settings and what this kernel offers; and their words."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from oboto.agent.sandbox.environment import ALLOWED_PREFIXES, BASIC_VARIABLES, command_environment
from oboto.agent.sandbox.landlock import LandlockUnavailable, abi_version
from oboto.agent.sandbox.linux import set_undumpable
from oboto.agent.sandbox.launch import run_in_launcher
from oboto.agent.sandbox.spec import CommandReport, CommandSpec
from oboto.core.config import Settings, ShellSettings
from oboto.core.safe_open import OBOTO_DIR_NAME

DEVICE_PATHS = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts", "/dev/shm")
"""Writable for every command: the null devices, terminals, and POSIX shared memory (multiprocessing needs it)."""
_MIB = 1024 * 1024
_PROBE_TIMEOUT_SECONDS = 30.0


@functools.cache
def landlock_status() -> tuple[int | None, str | None]:
    """(the kernel's Landlock ABI, None) or (None, why Landlock cannot be used); asked once per process."""
    try:
        return abi_version(), None
    except LandlockUnavailable as error:
        return None, str(error)


@functools.cache
def protect_this_process() -> None:
    """Make oboto undumpable (once), so a command of the same user cannot read its memory or environment."""
    try:
        set_undumpable()
    except OSError:
        pass  # not Linux: nothing to protect this way


class SandboxRefused(Exception):
    """The settings require a sandbox this system cannot give; the message says so plainly."""


@dataclass(frozen=True)
class SandboxPlan:
    """The sandbox one command (or, for the doctor, every command) runs in."""

    mode: str
    landlock_abi: int | None
    unavailable: str | None
    """Why Landlock is not used, when it is not."""
    network: bool
    writable: tuple[str, ...]
    read_only: tuple[str, ...] = ()
    """Oboto's state folder, which commands may read but not change (empty when shell.sandbox is "off")."""

    @classmethod
    def for_settings(cls, settings: Settings, root: Path, *, background: bool) -> "SandboxPlan":
        shell = settings.shell
        if shell.sandbox == "off":
            abi, unavailable = None, 'shell.sandbox is "off"'
        else:
            abi, unavailable = landlock_status()
        extra = [str((root / Path(path).expanduser()).resolve()) for path in shell.writable_paths]
        return cls(
            mode=shell.sandbox, landlock_abi=abi, unavailable=unavailable,
            network=shell.background_network if background else shell.network,
            writable=(str(root), *DEVICE_PATHS, *extra),
            read_only=(str(root / OBOTO_DIR_NAME),) if shell.sandbox != "off" else (),
        )

    def check(self) -> None:
        """SandboxRefused when the settings require Landlock and it cannot be had."""
        if self.mode == "required" and self.landlock_abi is None:
            raise SandboxRefused(
                f'command refused: shell.sandbox is "required", but the Landlock sandbox is unavailable '
                f"({self.unavailable}). Set shell.sandbox = \"auto\" in .oboto/config.toml to run commands "
                "with the other protections only."
            )

    def unsandboxed_reason(self, report: CommandReport) -> str:
        """Why a command ran without Landlock: the plan's reason, or the kernel's refusal the launcher met."""
        return self.unavailable or report.sandbox.removeprefix("none: ")

    def command_spec(self, shell: ShellSettings, command: str, timeout_seconds: float) -> CommandSpec:
        return CommandSpec(
            command=command, timeout_seconds=timeout_seconds, status_fd=-1, temp_parent=tempfile.gettempdir(),
            writable=list(self.writable), read_only=list(self.read_only), network=self.network,
            landlock_abi=self.landlock_abi,
            required=self.mode == "required", harden=self.mode != "off",
            address_space_bytes=shell.memory_limit_mb * _MIB or None, cpu_seconds=shell.cpu_limit_seconds or None,
            file_size_bytes=shell.file_size_limit_mb * _MIB or None, processes=shell.process_limit or None,
        )


async def probe(settings: Settings, root: Path) -> tuple[SandboxPlan, CommandReport]:
    """Run `true` exactly as run_command would, to learn which protections this system really applies."""
    plan = SandboxPlan.for_settings(settings, root, background=False)
    spec = plan.command_spec(settings.shell, "true", _PROBE_TIMEOUT_SECONDS)
    return plan, await run_in_launcher(spec, root, command_environment(os.environ), lambda _chunk: None)


def describe_sandbox(settings: Settings, plan: SandboxPlan, report: CommandReport) -> tuple[bool, str]:
    """(usable as configured, one line), e.g. `landlock ABI 7 (writes: workspace, temp; network: …)`."""
    if plan.mode == "off":
        return True, 'off (shell.sandbox = "off"): commands may write anywhere the user can'
    if report.unsandboxed:
        consequence = "commands are refused" if plan.mode == "required" else "commands run with the other protections"
        return plan.mode != "required", f"unavailable: {plan.unsandboxed_reason(report)} ({consequence})"
    writes = ", ".join(["workspace", "temp", *settings.shell.writable_paths])
    if plan.landlock_abi is not None and plan.landlock_abi < 4:
        network = "not restricted (TCP rules need Landlock ABI 4)"
    else:
        network = ", ".join(f"{'on' if allowed else 'off'} {who}" for who, allowed in
                            (("foreground", settings.shell.network), ("background", settings.shell.background_network)))
    return True, f"{report.sandbox} (writes: {writes}; network: {network})"


def describe_state_protection(plan: SandboxPlan, report: CommandReport) -> str:
    """How `.oboto/` (settings, grants, the emergency stop, everything oboto keeps) is kept from commands."""
    if not plan.read_only:
        return f'not protected (shell.sandbox = "off"): commands may change {OBOTO_DIR_NAME}/, settings included'
    if report.read_only:
        return f"{OBOTO_DIR_NAME}/ is read-only for commands (a mount namespace of their own)"
    return (f"{OBOTO_DIR_NAME}/ cannot be made read-only here ({report.read_only_refused}): after each command, "
            "changes it made to config.toml, grants.json, stop.json, agents/ and commands/ are put back; "
            f"the rest of {OBOTO_DIR_NAME}/ stays writable for commands")


def describe_limits(shell: ShellSettings) -> str:
    parts = [
        f"address space {shell.memory_limit_mb} MiB" if shell.memory_limit_mb else "address space unlimited",
        f"CPU {shell.cpu_limit_seconds} s" if shell.cpu_limit_seconds else "CPU unlimited",
        f"file size {shell.file_size_limit_mb} MiB" if shell.file_size_limit_mb else "file size unlimited",
        f"{shell.process_limit} processes" if shell.process_limit else "processes unlimited",
    ]
    return ", ".join(parts) + " per command"


def describe_environment(shell: ShellSettings) -> str:
    names = [*BASIC_VARIABLES, *(prefix + "*" for prefix in ALLOWED_PREFIXES), "virtualenv/conda variables"]
    text = "allowlist only: " + ", ".join(names) + ", a private TMPDIR"
    if shell.pass_env:
        text += "; plus shell.pass_env: " + ", ".join(shell.pass_env)
    return text

