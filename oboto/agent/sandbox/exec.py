"""The launcher: `python -I -m oboto.agent.sandbox.exec SPEC` runs one shell command under its protections.

It stays outside the sandbox as the command's child subreaper: every descendant, also one that calls setsid,
nohup or double-forks, is re-parented to it, so it can end them all when the call ends — the shell exited,
the timeout passed, oboto asked (SIGTERM) or oboto died. A launcher rather than preexec_fn, which is unsafe
in oboto's threaded process; it is single-threaded, so forking here is safe.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import NoReturn

from oboto.agent.sandbox import linux, tree
from oboto.agent.sandbox.landlock import Ruleset
from oboto.agent.sandbox.limits import apply_limits
from oboto.agent.sandbox.spec import CommandReport, CommandSpec

SHELL = "/bin/sh"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_POLL_SECONDS = 0.02


def _exec_command(spec: CommandSpec, temp_dir: str, setup_fd: int) -> NoReturn:
    """In the forked child: limits, hardening and Landlock, then exec the shell. Reports setup on `setup_fd`."""

    def tell(**fields: object) -> None:
        os.write(setup_fd, (json.dumps(fields) + "\n").encode())

    try:
        signal.set_wakeup_fd(-1)
        # Python ignores SIGPIPE and SIGXFSZ for itself; a command must get the default actions back.
        for sig in (*_STOP_SIGNALS, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        os.setpgid(0, 0)
        os.close(spec.status_fd)
        apply_limits(address_space_bytes=spec.address_space_bytes, cpu_seconds=spec.cpu_seconds,
                     file_size_bytes=spec.file_size_bytes, processes=spec.processes)
        if spec.harden:
            linux.set_no_new_privs()
            linux.drop_capabilities(linux.PROCESS_INSPECTION_CAPABILITIES)
        if spec.landlock_abi is None:
            tell(sandbox="none", unsandboxed=True)
        else:
            try:
                Ruleset(spec.landlock_abi, writable=[*spec.writable, temp_dir], network=spec.network).restrict_self()
                tell(sandbox=f"landlock ABI {spec.landlock_abi}", unsandboxed=False)
            except OSError as error:
                why = f"the kernel refused the Landlock sandbox ({error.strerror})"
                if spec.required:
                    tell(refused=f"{why}, and shell.sandbox is \"required\"")
                    os._exit(126)
                tell(sandbox=f"none: {why}", unsandboxed=True)
        environment = dict(os.environ, TMPDIR=temp_dir, TMP=temp_dir, TEMP=temp_dir)
        try:
            os.execve(SHELL, [SHELL, "-c", spec.command], environment)
        except OSError as error:
            tell(refused=f"could not start {SHELL}: {error.strerror}")
    except BaseException as error:  # whatever went wrong, this fork of the launcher must not run on
        try:
            tell(refused=f"the command could not be set up: {type(error).__name__}: {error}")
        finally:
            os._exit(127)
    os._exit(127)


class _Supervisor:
    """Starts the command, waits for its end, then makes sure nothing it started is left."""

    def __init__(self, spec: CommandSpec, temp_dir: str) -> None:
        self.spec = spec
        self.temp_dir = temp_dir
        self.report = CommandReport()
        self.shell_pid = 0
        self.shell_status: int | None = None
        self.stop_requested = False

    def run(self) -> CommandReport:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only so the wakeup fd hears of ending children
        setup_read, setup_write = os.pipe()
        self.shell_pid = os.fork()
        if self.shell_pid == 0:
            os.close(setup_read)
            _exec_command(self.spec, self.temp_dir, setup_write)
        os.close(setup_write)
        self._read_setup(setup_read)
        if self.report.refused is None:
            self._wait(wake_read)
        self._finish()
        return self.report

    def _stop(self, *_: object) -> None:
        self.stop_requested = True

    def _read_setup(self, setup_read: int) -> None:
        """What the child said before exec (the pipe closes at exec): the sandbox it got, or why it did not run."""
        chunks = []
        while chunk := os.read(setup_read, 4096):
            chunks.append(chunk)
        os.close(setup_read)
        for line in b"".join(chunks).splitlines():
            fields = json.loads(line)
            for name, value in fields.items():
                setattr(self.report, name, value)

    def _on_reaped(self, pid: int, status: int) -> None:
        if pid == self.shell_pid:
            self.shell_status = status

    def _reap(self) -> None:
        for pid, status in tree.reap_children():
            self._on_reaped(pid, status)

    def _wait(self, wake_read: int) -> None:
        poller = select.poll()
        poller.register(wake_read, select.POLLIN)
        poller.register(self.spec.status_fd, 0)  # reports POLLERR once oboto, the reader, is gone
        deadline = time.monotonic() + self.spec.timeout_seconds
        while True:
            self._reap()
            if self.shell_status is not None:
                return
            remaining = deadline - time.monotonic()
            if self.stop_requested:
                self.report.cancelled = True
                return
            if remaining <= 0:
                self.report.timed_out = True
                return
            for fd, events in poller.poll(remaining * 1000):
                if fd == wake_read:
                    _drain(wake_read)
                elif events & (select.POLLERR | select.POLLHUP):
                    self.report.cancelled = True
                    return

    def _finish(self) -> None:
        grace = self.spec.kill_grace_seconds
        if self.shell_status is not None and tree.has_children():
            leftover_by = time.monotonic() + self.spec.leftover_grace_seconds
            while time.monotonic() < leftover_by and tree.has_children() and not self.stop_requested:
                time.sleep(_POLL_SECONDS)
                self._reap()
            self.report.left_behind = tree.has_children()
        if tree.has_children():
            self.report.survivors = not tree.end_descendants(grace, self._on_reaped)
        if self.shell_status is not None:
            self.report.exit_code = os.waitstatus_to_exitcode(self.shell_status)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _remove_tree(path: str) -> None:
    """Remove the command's temporary folder, also what it made read-only."""

    def make_writable_and_retry(function, failed_path, _error) -> None:  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(failed_path), 0o700)
            if os.path.isdir(failed_path) and not os.path.islink(failed_path):
                os.chmod(failed_path, 0o700)
            function(failed_path)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable_and_retry)


def _supervise(spec: CommandSpec) -> CommandReport:
    linux.set_undumpable()  # the command may not read this process's memory or /proc/<pid>/environ
    linux.set_child_subreaper()
    temp_dir = tempfile.mkdtemp(prefix="oboto-cmd-", dir=spec.temp_parent)
    try:
        return _Supervisor(spec, temp_dir).run()
    finally:
        _remove_tree(temp_dir)


def main(argv: list[str]) -> int:
    spec = CommandSpec.from_json(argv[1])
    try:
        report = _supervise(spec)
    except Exception as error:  # said in the report: a traceback here would land in the command's output
        report = CommandReport(refused=f"the command launcher failed: {type(error).__name__}: {error}")
    try:
        os.write(spec.status_fd, report.to_json().encode())
    except OSError:
        pass  # oboto is gone; everything the command started has ended all the same
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
