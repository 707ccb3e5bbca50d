"""The launcher: `python -I -m oboto.agent.sandbox.exec SPEC` runs one shell command under its protections.

It stays outside the sandbox as the command's child subreaper: every descendant, also one that calls setsid,
nohup or double-forks, is re-parented to it, so it can end them all when the call ends — the shell exited,
the timeout passed, oboto asked (SIGTERM) or oboto died. A launcher rather than preexec_fn, which is unsafe
in oboto's threaded process; it is single-threaded, so forking here is safe.

Every command pays for this module's start-up, so it imports only what it must: it reads the CommandSpec
(oboto.agent.sandbox.spec) as a plain namespace and writes its CommandReport as plain JSON, and makes and
removes its temporary folder with os alone (dataclasses, tempfile and shutil would double the start-up).
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import sys
import time
from types import SimpleNamespace

from oboto.agent.sandbox import linux, tree
from oboto.agent.sandbox.landlock import Ruleset
from oboto.agent.sandbox.limits import apply_limits
from oboto.agent.sandbox.mounts import make_read_only

SHELL = "/bin/sh"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_POLL_SECONDS = 0.02


def _exec_command(spec: SimpleNamespace, temp_dir: str, setup_fd: int) -> None:
    """In the forked child: limits, hardening and Landlock, then exec the shell (never returns).

    What it got (the sandbox, or why the command cannot run) goes to `setup_fd`, which closes at exec.
    """

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
        if spec.read_only:  # before the hardening, which drops what mounting needs, and before Landlock
            try:
                make_read_only(spec.read_only)
                tell(read_only=True)
            except OSError as error:
                tell(read_only_refused=f"the kernel refused a mount namespace: {error.strerror}")
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

    def __init__(self, spec: SimpleNamespace, temp_dir: str) -> None:
        self.spec = spec
        self.temp_dir = temp_dir
        self.report: dict[str, object] = {}
        """The fields of a CommandReport this run has something to say about."""
        self.shell_pid = 0
        self.shell_status: int | None = None
        self.stop_requested = False

    def run(self) -> dict[str, object]:
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
        if "refused" not in self.report:
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
            self.report.update(json.loads(line))

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
                self.report["cancelled"] = True
                return
            if remaining <= 0:
                self.report["timed_out"] = True
                return
            for fd, events in poller.poll(remaining * 1000):
                if fd == wake_read:
                    _drain(wake_read)
                elif events & (select.POLLERR | select.POLLHUP):
                    self.report["cancelled"] = True
                    return

    def _finish(self) -> None:
        grace = self.spec.kill_grace_seconds
        if self.shell_status is not None and tree.has_children():
            leftover_by = time.monotonic() + self.spec.leftover_grace_seconds
            while time.monotonic() < leftover_by and tree.has_children() and not self.stop_requested:
                time.sleep(_POLL_SECONDS)
                self._reap()
            self.report["left_behind"] = tree.has_children()
        if tree.has_children():
            self.report["survivors"] = not tree.end_descendants(grace, self._on_reaped)
        if self.shell_status is not None:
            self.report["exit_code"] = os.waitstatus_to_exitcode(self.shell_status)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _make_temp_dir(parent: str) -> str:
    while True:
        path = os.path.join(parent, "oboto-cmd-" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def _remove_tree(path: str) -> None:
    """Remove the command's temporary folder, also what it made read-only; never follows symlinks."""
    for folder, subfolders, files in os.walk(path, topdown=False):
        os.chmod(folder, stat.S_IRWXU)
        for name in files:
            os.unlink(os.path.join(folder, name))
        for name in subfolders:
            full = os.path.join(folder, name)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(path)


def _supervise(spec: SimpleNamespace) -> dict[str, object]:
    linux.set_undumpable()  # the command may not read this process's memory or /proc/<pid>/environ
    linux.set_child_subreaper()
    temp_dir = _make_temp_dir(spec.temp_parent)
    try:
        return _Supervisor(spec, temp_dir).run()
    finally:
        try:
            _remove_tree(temp_dir)
        except OSError:
            pass  # left for the system's temp cleaning; the command's result matters more


def main(argv: list[str]) -> int:
    spec = SimpleNamespace(**json.loads(argv[1]))
    try:
        report = _supervise(spec)
    except Exception as error:  # said in the report: a traceback here would land in the command's output
        report = {"refused": f"the command launcher failed: {type(error).__name__}: {error}"}
    try:
        os.write(spec.status_fd, json.dumps(report).encode())
    except OSError:
        pass  # oboto is gone; everything the command started has ended all the same
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
