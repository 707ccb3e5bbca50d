"""oboto's side of a command: start the launcher, stream its output, stop it on cancel, read its report."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import oboto
from oboto.agent.sandbox.spec import CommandReport, CommandSpec

LAUNCHER_MODULE = "oboto.agent.sandbox.exec"
_PACKAGE_PARENT = str(Path(oboto.__file__).resolve().parent.parent)
# -S skips site (and an editable install's path finder), most of the launcher's start-up; it needs only the
# standard library and oboto itself. -I keeps PYTHON* variables and the command's folder out of its imports.
LAUNCHER_ARGV = (sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
                 f"from {LAUNCHER_MODULE} import main; sys.exit(main(sys.argv))")
_READ_CHUNK = 64 * 1024
_ANSWER_MARGIN_SECONDS = 10.0
"""Past the command's own limits, how long the launcher may take to answer before oboto kills it outright."""
_SETTLE_SECONDS = 1.0


class LauncherFailed(Exception):
    """The launcher could not run or report; the message says why in plain words."""


async def _read_into(stream: asyncio.StreamReader, feed: Callable[[bytes], None]) -> None:
    while chunk := await stream.read(_READ_CHUNK):
        feed(chunk)


def _kill_launcher(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _stop(process: asyncio.subprocess.Process, spec: CommandSpec) -> None:
    """Ask the launcher to end the command's whole tree, and wait until it has."""
    if process.returncode is None:
        try:
            process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
    try:
        await asyncio.wait_for(process.wait(), spec.kill_grace_seconds + _ANSWER_MARGIN_SECONDS)
    except asyncio.TimeoutError:
        _kill_launcher(process)


def _read_report(status_read: int, returncode: int | None) -> CommandReport:
    chunks = []
    while chunk := os.read(status_read, 4096):
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    if not text:
        raise LauncherFailed(f"the command launcher ended without a report (exit status {returncode})")
    return CommandReport.from_json(text)


async def run_in_launcher(
    spec: CommandSpec, cwd: Path, environment: Mapping[str, str], feed: Callable[[bytes], None]
) -> CommandReport:
    """Run `spec` in `cwd` with exactly `environment`, feeding its combined output to `feed` as it comes.

    Cancellation (Esc, task cancel, shutdown) ends the command's whole process tree before it propagates.
    """
    status_read, status_write = os.pipe()
    try:
        spec.status_fd = status_write
        try:
            process = await asyncio.create_subprocess_exec(
                *LAUNCHER_ARGV, spec.to_json(),
                cwd=cwd, env=dict(environment), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, pass_fds=(status_write,),
            )
        except OSError as error:
            raise LauncherFailed(f"could not start the command: {error}") from error
        finally:
            os.close(status_write)
        assert process.stdout is not None
        reader = asyncio.create_task(_read_into(process.stdout, feed))
        answer_by = spec.timeout_seconds + spec.leftover_grace_seconds + 2 * spec.kill_grace_seconds
        try:
            await asyncio.wait_for(process.wait(), answer_by + _ANSWER_MARGIN_SECONDS)
            await asyncio.wait({reader}, timeout=_SETTLE_SECONDS)
        except asyncio.TimeoutError:
            _kill_launcher(process)
            await process.wait()
            raise LauncherFailed("the command launcher stopped answering and was killed") from None
        except BaseException:
            await asyncio.shield(_stop(process, spec))
            raise
        finally:
            if not reader.done():
                reader.cancel()
        return _read_report(status_read, process.returncode)
    finally:
        os.close(status_read)
