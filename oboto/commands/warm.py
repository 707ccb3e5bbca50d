"""The warm path: a command that needs a model or the vector store is handed to the workspace's runner.

The client (`forward`) connects to `.oboto/runner.sock` when a runner is active, passes its own standard
streams and waits for the exit code; the runner (`command_handler`) runs the very same `oboto` command on a
thread of its own, with those streams, where litellm, Chroma and the embedding model are already loaded.
Without a runner, or when the runner declines, the command runs in its own process as before.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import sys
from argparse import Namespace
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any, Callable, Coroutine, Iterator, Sequence, TypeVar

NO_WARM_PATH = "OBOTO_NO_RUNNER_SOCKET"
"""Set (to anything) to make every command do its own work, even with a runner active."""
CONNECT_TIMEOUT_SECONDS = 2.0
T = TypeVar("T")
RUNNER_WENT_AWAY = "the runner stopped before the command finished; run it again"

_streams: ContextVar[tuple[IO[str], IO[str], IO[str]] | None] = ContextVar("oboto_request_streams", default=None)
_request: ContextVar[Any] = ContextVar("oboto_request", default=None)


def wants_runner(args: Namespace) -> bool:
    """Whether the command loads a model or the vector store, so the warm runner does it faster."""
    command = args.command
    if command in ("run", "memory"):
        return True
    if command == "tasks":
        return args.tasks_action in ("spawn", "continue") and args.wait
    if command == "conversations":
        return getattr(args, "conversations_action", None) == "compact"
    if command == "loop":
        return getattr(args, "loop_action", None) == "briefing"
    return False


# ----- the client ---------------------------------------------------------------------------------------------


def forward(args: Namespace, argv: Sequence[str]) -> int | None:
    """The exit code of the command run by the workspace's runner, or None when this process must run it."""
    if os.environ.get(NO_WARM_PATH) or not wants_runner(args):
        return None
    try:
        root = Path(args.workspace or ".").expanduser().resolve()
        if not stat.S_ISSOCK(os.lstat(root / ".oboto" / "runner.sock").st_mode):
            return None
    except (OSError, RuntimeError):
        return None
    connection = _connect_to_runner(root)
    if connection is None:
        return None
    with connection:
        return _hand_over(connection, root, list(argv))


def _connect_to_runner(root: Path) -> socket.socket | None:
    """A connection to the process that holds the runner lock (checked by its credentials), or None."""
    from oboto.core.locks import ProcessLock
    from oboto.core.runner_protocol import peer_credentials

    state_dir = root / ".oboto"
    holder = ProcessLock(state_dir / "runner.lock").holder_pid()
    if holder is None or holder < 0:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        folder = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            connection.connect(f"/proc/self/fd/{folder}/runner.sock")  # a short path, whatever the workspace's
        finally:
            os.close(folder)
        pid, uid, _gid = peer_credentials(connection)
    except OSError:
        connection.close()
        return None  # a dead socket file: the next runner removes it
    if uid != os.geteuid() or pid != holder:
        connection.close()
        return None  # whoever listens there is not this workspace's runner
    connection.settimeout(None)
    return connection


def _hand_over(connection: socket.socket, root: Path, argv: list[str]) -> int | None:
    from oboto.commands.common import EXIT_FAILED, EXIT_USAGE, warn
    from oboto.core.runner_protocol import PROTOCOL, environment_fingerprint

    request = {"protocol": PROTOCOL, "argv": argv, "workspace": str(root),
               "environment": environment_fingerprint(os.environ)}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    except OSError:
        return None
    with _interrupts_forwarded(connection):
        reply = _read_reply(connection)
    if reply is None:
        warn(RUNNER_WENT_AWAY)
        return EXIT_FAILED
    if "refused" in reply:
        return None
    if "error" in reply:
        warn(str(reply["error"]))
        return EXIT_USAGE
    return int(reply.get("exit", EXIT_FAILED))


@contextmanager
def _interrupts_forwarded(connection: socket.socket) -> Iterator[None]:
    """Ctrl-C and SIGTERM reach the command in the runner, which ends as it would here."""

    def forward_signal(_signum: int, _frame: Any) -> None:
        try:
            connection.sendall(b'{"interrupt": true}\n')
        except OSError:
            pass

    previous = {signum: signal.signal(signum, forward_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _read_reply(connection: socket.socket) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = connection.recv(4096)
        except InterruptedError:
            continue
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    try:
        reply = json.loads(data)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


# ----- the runner's side --------------------------------------------------------------------------------------


def command_handler(main: Callable[..., int]):  # -> CommandHandler
    """What the runner's socket runs each request with: `main(argv, workspace=...)`, on the client's streams."""

    def handle(request) -> int:
        _route_standard_streams()  # per request: the TUI's app swaps in its own print capture while it runs
        streams = _open_streams(request.streams)
        token, request_token = _streams.set(streams), _request.set(request)
        try:
            return main(request.argv, workspace=request.workspace)
        except SystemExit as leaving:  # argparse's --help or a usage error, in the request's thread
            return leaving.code if isinstance(leaving.code, int) else 1
        finally:
            _streams.reset(token)
            _request.reset(request_token)
            for stream in streams:  # closed before the reply, so the client's pipes end with its own exit
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass  # the client's stream was closed under us

    return handle


def current_request() -> Any:
    """The runner's request this code serves (a CommandRequest), or None in a command's own process."""
    return _request.get()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`; in a command the runner serves, the client's Ctrl-C cancels it and raises
    KeyboardInterrupt, as Ctrl-C does to `asyncio.run` in a command's own process."""
    import asyncio

    request = current_request()
    if request is None:
        return asyncio.run(main)

    async def cancellable() -> T:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        unsubscribe = request.on_interrupt(lambda: loop.call_soon_threadsafe(task.cancel))
        try:
            return await main
        except asyncio.CancelledError:
            if request.interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            unsubscribe()

    return asyncio.run(cancellable())


def _open_streams(descriptors: tuple[int, int, int]) -> tuple[IO[str], IO[str], IO[str]]:
    """Text streams over (copies of) the client's descriptors, buffered as Python buffers its own."""
    stdin = io.TextIOWrapper(io.open(os.dup(descriptors[0]), "rb"), encoding="utf-8")
    stdout_fd, stderr_fd = os.dup(descriptors[1]), os.dup(descriptors[2])
    stdout = io.TextIOWrapper(io.open(stdout_fd, "wb"), encoding="utf-8", line_buffering=os.isatty(stdout_fd))
    stderr = io.TextIOWrapper(io.open(stderr_fd, "wb"), encoding="utf-8", errors="backslashreplace",
                              line_buffering=True)
    return stdin, stdout, stderr


class _RoutedStream(io.TextIOBase):
    """sys.stdout (or stdin, stderr) that is the current request's stream in a request's context and the process's
    own stream elsewhere: commands print as usual, and each request's output reaches its own client."""

    def __init__(self, index: int, own: IO[str]) -> None:
        self._index = index
        self._own = own

    def _target(self) -> IO[str]:
        streams = _streams.get()
        return self._own if streams is None else streams[self._index]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def read(self, size: int | None = -1) -> str:
        return self._target().read(size)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self._target().readline(size)

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target().encoding


def _route_standard_streams() -> None:
    for index, name in enumerate(("stdin", "stdout", "stderr")):
        current = getattr(sys, name)
        if not isinstance(current, _RoutedStream):
            setattr(sys, name, _RoutedStream(index, current))
