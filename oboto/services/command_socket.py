"""The runner's socket, `.oboto/runner.sock`: short CLI commands hand their work to the warm runner.

A client connects, sends one request line (JSON) with its standard input, output and error passed along as
file descriptors (SCM_RIGHTS), and reads one reply line: the command's exit code, or why the runner will not
take it (then the client does the work itself). While the command runs the client may send `interrupt` (its
Ctrl-C); a connection that closes early interrupts too. The command writes straight to the client's own
streams, so what the person sees is what the command would print in its own process.

The socket is the user's only: `.oboto/` is made 0700 and the socket 0600, a peer of another uid is refused
(SO_PEERCRED), and whatever is found at the path when the runner starts (a dead socket, a planted link) is
removed, never followed. The socket is plain stdlib: no library offers descriptor passing over AF_UNIX.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from oboto.core import safe_open
from oboto.core.bus import EventBus
from oboto.core.events import WorkspaceWarning
from oboto.core.paths import WorkspacePaths
from oboto.core.quarantine import DamagedState, move_aside
from oboto.core.runner_protocol import PROTOCOL, environment_fingerprint, peer_credentials

MAX_REQUEST_BYTES = 1 << 20
MAX_CONCURRENT_REQUESTS = 8
REQUEST_TIMEOUT_SECONDS = 10.0
"""A client that connects and says nothing is dropped after this long."""
DRAIN_SECONDS = 2.0
"""How long a stopping runner waits for the commands it interrupted to end (well within the daemon's grace)."""
STREAM_COUNT = 3


class MalformedRequest(ValueError):
    """A request line that is not what the protocol says; the reply says what is wrong."""


@dataclass(eq=False)
class CommandRequest:
    """One command a client handed over: its arguments, its workspace and its three streams (open descriptors)."""

    argv: list[str]
    workspace: str
    environment: str
    """The client's environment fingerprint (`environment_fingerprint`): the command runs here only if it matches."""
    streams: tuple[int, int, int]
    _interrupted: threading.Event = field(default_factory=threading.Event)
    _hooks: list[Callable[[], None]] = field(default_factory=list)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def on_interrupt(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when the client is interrupted (at once if it already was); returns the unsubscriber."""
        with self._guard:
            self._hooks.append(callback)
            already = self.interrupted
        if already:
            callback()
        return lambda: self._unhook(callback)

    def _unhook(self, callback: Callable[[], None]) -> None:
        with self._guard:
            if callback in self._hooks:
                self._hooks.remove(callback)

    def interrupt(self) -> None:
        with self._guard:
            if self.interrupted:
                return
            self._interrupted.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()


CommandHandler = Callable[[CommandRequest], int]
"""Runs a request's command with its streams and returns the exit code (the `oboto` command supplies it)."""

def _send_line(connection: socket.socket, message: dict[str, Any]) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client went away; nothing is left to tell it


class CommandSocketServer:
    """Listens on `.oboto/runner.sock` while this process is the runner; one thread per request."""

    def __init__(self, paths: WorkspacePaths, handler: CommandHandler, bus: EventBus) -> None:
        self.state_dir = paths.state_dir
        self.root = paths.root
        self.path = paths.runner_socket
        self.handler = handler
        self.bus = bus
        self.environment = environment_fingerprint(os.environ)
        self.uid = os.geteuid()
        """Only peers of this uid are served."""
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._running: set[CommandRequest] = set()
        self._ended = threading.Condition()
        self._stopping = False

    def start(self) -> None:
        """Make `.oboto/` private, clear the path and listen; a failure is a warning (commands then do their own work)."""
        try:
            self._listen()
        except DamagedState as problem:
            self.bus.publish(WorkspaceWarning(message=f"{problem}; commands run in their own processes"))
            return
        except OSError as error:
            self.bus.publish(WorkspaceWarning(message=f"{self.path} could not be opened ({error.strerror or error}); "
                                                      "commands run in their own processes"))
            return
        threading.Thread(target=self._accept_forever, name="oboto-runner-socket", daemon=True).start()

    def _listen(self) -> None:
        with safe_open.folder(self.state_dir) as folder:
            folder_stat = os.fstat(folder)
            if folder_stat.st_uid == self.uid and stat.S_IMODE(folder_stat.st_mode) & 0o077:
                os.fchmod(folder, 0o700)  # nobody else may even reach the socket
            self._clear_path(folder)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # Bound through the folder's descriptor: no link on the way is followed, and the path stays short.
            address = f"/proc/self/fd/{folder}/{self.path.name}"
            try:
                listener.bind(address)
                os.chmod(address, 0o600)
                listener.listen(16)
            except OSError:
                listener.close()
                raise
            self._inode = os.stat(self.path.name, dir_fd=folder, follow_symlinks=False).st_ino
        self._listener = listener

    def _clear_path(self, folder: int) -> None:
        """A socket left by a dead runner is removed; anything else found there (a planted link, a file, a folder)
        is moved aside and reported, never followed or overwritten."""
        try:
            found = os.stat(self.path.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISSOCK(found.st_mode):
            os.unlink(self.path.name, dir_fd=folder)
        else:
            what = ("a symbolic link" if stat.S_ISLNK(found.st_mode) else "a folder" if stat.S_ISDIR(found.st_mode)
                    else "a file" if stat.S_ISREG(found.st_mode) else "a device or pipe")
            self.bus.publish(move_aside(self.path, f"was {what}, not the runner's socket"))

    def stop(self) -> None:
        """Stop listening, remove the socket file (if it is still the one this server made), then interrupt the
        commands still running and wait (up to DRAIN_SECONDS) until they end, so the runner stops after them.
        Their clients are told the runner stopped (no exit code: the person did not interrupt them)."""
        self._stop_listening()
        with self._ended:
            self._stopping = True
            running = list(self._running)
        for request in running:
            request.interrupt()
        with self._ended:
            self._ended.wait_for(lambda: not self._running, timeout=DRAIN_SECONDS)

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        try:
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass

    def _accept_forever(self) -> None:
        while (listener := self._listener) is not None:
            try:
                connection, _address = listener.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(connection,), name="oboto-runner-request", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        streams: list[int] = []
        try:
            with connection:
                _pid, uid, _gid = peer_credentials(connection)
                if uid != self.uid:
                    _send_line(connection, {"refused": "this socket belongs to another user"})
                    return
                connection.settimeout(REQUEST_TIMEOUT_SECONDS)
                try:
                    request, streams = _read_request(connection)
                except MalformedRequest as problem:
                    _send_line(connection, {"error": f"malformed request to the runner: {problem}"})
                    return
                connection.settimeout(None)
                with self._ended:
                    refusal = self._refusal(request)
                    if refusal is None:
                        self._running.add(request)
                if refusal is not None:
                    _send_line(connection, {"refused": refusal})
                    return
                try:
                    threading.Thread(target=_watch_for_interrupt, args=(connection, request), daemon=True).start()
                    code = self.handler(request)
                finally:
                    with self._ended:
                        self._running.discard(request)
                        stopped_under_it = self._stopping
                        self._ended.notify_all()
                    while streams:  # the client's pipes must not outlive its exit in this process
                        _close_quietly(streams.pop())
                if stopped_under_it:
                    connection.shutdown(socket.SHUT_RDWR)  # the end, though the interrupt watcher still reads it
                else:
                    _send_line(connection, {"exit": code})
        except OSError:
            pass  # the client went away mid-request
        finally:
            for descriptor in streams:
                _close_quietly(descriptor)

    def _refusal(self, request: CommandRequest) -> str | None:
        """Why this runner will not take `request` (the caller holds `_ended`), or None."""
        if request.workspace != str(self.root):
            return f"this runner serves {self.root}"
        if request.environment != self.environment:
            return "the runner was started with other settings in its environment"
        if self._stopping:
            return "the runner is stopping"
        if len(self._running) >= MAX_CONCURRENT_REQUESTS:
            return "the runner is busy with other commands"
        return None


def _read_request(connection: socket.socket) -> tuple[CommandRequest, list[int]]:
    """One request line and the descriptors sent with it; MalformedRequest says what is wrong."""
    data, descriptors, _flags, _address = socket.recv_fds(connection, MAX_REQUEST_BYTES, STREAM_COUNT)
    while not data.endswith(b"\n") and len(data) < MAX_REQUEST_BYTES:
        more = connection.recv(MAX_REQUEST_BYTES - len(data))
        if not more:
            break
        data += more
    try:
        if not data.endswith(b"\n"):
            raise MalformedRequest("a request is one JSON line of at most 1 MiB")
        try:
            message = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedRequest(f"not JSON ({error})") from None
        if not isinstance(message, dict) or message.get("protocol") != PROTOCOL:
            raise MalformedRequest(f"expected an object with \"protocol\": {PROTOCOL}")
        argv, workspace, environment = message.get("argv"), message.get("workspace"), message.get("environment")
        if not isinstance(argv, list) or not all(isinstance(argument, str) for argument in argv):
            raise MalformedRequest("\"argv\" must be a list of strings")
        if not isinstance(workspace, str) or not isinstance(environment, str):
            raise MalformedRequest("\"workspace\" and \"environment\" must be strings")
        if len(descriptors) != STREAM_COUNT:
            raise MalformedRequest(f"expected {STREAM_COUNT} file descriptors (stdin, stdout, stderr), "
                                   f"got {len(descriptors)}")
    except MalformedRequest:
        for descriptor in descriptors:
            _close_quietly(descriptor)
        raise
    streams = (descriptors[0], descriptors[1], descriptors[2])
    return CommandRequest(argv=argv, workspace=workspace, environment=environment, streams=streams), descriptors


def _watch_for_interrupt(connection: socket.socket, request: CommandRequest) -> None:
    """The client's `interrupt`, or the connection closing before the reply, interrupts the command."""
    while True:
        try:
            data = connection.recv(4096)
        except OSError:
            data = b""
        if not data or b"interrupt" in data:
            request.interrupt()
            return


def _close_quietly(descriptor: int) -> None:
    try:
        os.close(descriptor)
    except OSError:
        pass
