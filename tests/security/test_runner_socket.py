"""Attacks on `.oboto/runner.sock`: its permissions, what may lie at its path, malformed requests, strangers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
from argparse import Namespace
from collections.abc import Iterator

import pytest

from oboto.commands import warm
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined
from oboto.core.paths import WorkspacePaths
from oboto.services.command_socket import PROTOCOL, CommandRequest, CommandSocketServer, environment_fingerprint
from oboto.testing import wait_until


class Served:
    """The socket server of a runner whose commands only say which argv they got."""

    def __init__(self, paths: WorkspacePaths) -> None:
        self.paths = paths
        self.events: list = []
        bus = EventBus(paths.events)
        bus.subscribe(self.events.append)
        self.server = CommandSocketServer(paths, self.handle, bus)

    def handle(self, request: CommandRequest) -> int:
        os.write(request.streams[1], f"ran {' '.join(request.argv)}\n".encode())
        return 0


@pytest.fixture
def served(workspace: WorkspacePaths) -> Iterator[Served]:
    served = Served(workspace)
    yield served
    served.server.stop()


def connect(paths: WorkspacePaths) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(10)
    connection.connect(str(paths.runner_socket))
    return connection


def reply_of(connection: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        assert chunk, "the runner closed the connection without a reply"
        data += chunk
    return json.loads(data)


def valid_request(paths: WorkspacePaths, read_end: int, write_end: int) -> tuple[bytes, list[int]]:
    message = {"protocol": PROTOCOL, "argv": ["memory", "list"], "workspace": str(paths.root),
               "environment": environment_fingerprint(os.environ)}
    return json.dumps(message).encode() + b"\n", [read_end, write_end, write_end]


def ask(paths: WorkspacePaths) -> tuple[dict, bytes]:
    """One well-formed request; the reply and what the command wrote to our stdout."""
    read_end, write_end = os.pipe()
    with connect(paths) as connection:
        data, fds = valid_request(paths, read_end, write_end)
        socket.send_fds(connection, [data], fds)
        os.close(write_end)
        reply = reply_of(connection)
    with os.fdopen(read_end, "rb") as output:
        return reply, output.read()


def test_the_socket_is_0600_in_a_0700_folder(served: Served) -> None:
    os.chmod(served.paths.state_dir, 0o755)
    served.server.start()
    assert stat.S_ISSOCK(os.lstat(served.paths.runner_socket).st_mode)
    assert stat.S_IMODE(os.lstat(served.paths.runner_socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(served.paths.state_dir).st_mode) == 0o700


def test_a_dead_runners_socket_file_is_replaced(served: Served) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(served.paths.runner_socket))
    dead.close()  # the file stays, nobody listens: what a runner killed with -9 leaves
    with pytest.raises(ConnectionRefusedError):
        connect(served.paths)
    served.server.start()
    assert ask(served.paths) == ({"exit": 0}, b"ran memory list\n")
    served.server.stop()
    assert not os.path.lexists(served.paths.runner_socket)


def test_a_symlink_planted_at_the_socket_path_is_moved_aside_not_followed(served: Served, tmp_path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    served.paths.runner_socket.symlink_to(target)
    served.server.start()
    assert target.read_text() == "keep me" and target.is_file()
    assert stat.S_ISSOCK(os.lstat(served.paths.runner_socket).st_mode)
    moved = [event for event in served.events if isinstance(event, FileQuarantined)]
    assert len(moved) == 1 and "symbolic link" in moved[0].reason
    assert os.path.islink(moved[0].moved_to)
    assert ask(served.paths)[0] == {"exit": 0}


def test_a_file_planted_at_the_socket_path_is_kept_aside(served: Served) -> None:
    served.paths.runner_socket.write_text("not a socket")
    served.server.start()
    moved = [event for event in served.events if isinstance(event, FileQuarantined)]
    assert len(moved) == 1 and open(moved[0].moved_to).read() == "not a socket"
    assert stat.S_ISSOCK(os.lstat(served.paths.runner_socket).st_mode)


@pytest.mark.parametrize("data, problem", [
    (b"this is not json\n", "not JSON"),
    (b"[1, 2]\n", "\"protocol\": 1"),
    (b'{"protocol": 1, "argv": "run hello", "workspace": "/", "environment": ""}\n', "list of strings"),
    (b'{"protocol": 1, "argv": ["run"], "workspace": 5, "environment": ""}\n', "must be strings"),
    (b'{"protocol": 1, "argv": ["run"], "workspace": "/", "environment": ""}\n', "3 file descriptors"),
    (b'{"protocol": 1', "one JSON line"),
])
def test_a_malformed_request_gets_a_clear_error_and_the_runner_goes_on(served: Served, data: bytes,
                                                                       problem: str) -> None:
    served.server.start()
    with connect(served.paths) as connection:
        connection.sendall(data)
        if not data.endswith(b"\n"):
            connection.shutdown(socket.SHUT_WR)
        reply = reply_of(connection)
    assert reply["error"].startswith("malformed request to the runner:") and problem in reply["error"]
    assert ask(served.paths) == ({"exit": 0}, b"ran memory list\n")


def test_a_request_from_another_uid_is_refused(served: Served) -> None:
    served.server.start()
    served.server.uid = os.geteuid() + 1  # a runner of another user, as this test's process sees it
    read_end, write_end = os.pipe()
    with connect(served.paths) as connection:
        data, fds = valid_request(served.paths, read_end, write_end)
        with contextlib.suppress(BrokenPipeError):  # the runner may refuse and hang up before reading a byte
            socket.send_fds(connection, [data], fds)
        assert reply_of(connection) == {"refused": "this socket belongs to another user"}
    os.close(write_end)
    with os.fdopen(read_end, "rb") as output:
        assert output.read() == b"", "the command never ran"


def test_a_request_for_another_workspace_or_environment_is_declined(served: Served) -> None:
    served.server.start()
    for change in ({"workspace": "/somewhere/else"}, {"environment": "0" * 64}):
        read_end, write_end = os.pipe()
        message = {"protocol": PROTOCOL, "argv": ["run", "hi"], "workspace": str(served.paths.root),
                   "environment": environment_fingerprint(os.environ), **change}
        with connect(served.paths) as connection:
            socket.send_fds(connection, [json.dumps(message).encode() + b"\n"], [read_end, write_end, write_end])
            assert "refused" in reply_of(connection)
        os.close(read_end)
        os.close(write_end)


def test_the_client_trusts_no_socket_the_runner_does_not_hold(workspace: WorkspacePaths) -> None:
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    impostor.bind(str(workspace.runner_socket))
    impostor.listen(1)
    try:  # nobody holds runner.lock: whoever listens is not the runner, so the command does its own work
        args = Namespace(command="run", workspace=str(workspace.root))
        assert warm.forward(args, ["run", "hello"]) is None
        impostor.settimeout(0.2)
        with pytest.raises(TimeoutError):
            impostor.accept()
    finally:
        impostor.close()


def test_a_request_whose_client_hangs_up_interrupts_its_command(workspace: WorkspacePaths) -> None:
    interrupted: list[bool] = []

    def handle(request: CommandRequest) -> int:
        wait_until(lambda: request.interrupted, timeout=10)
        interrupted.append(request.interrupted)
        return 130

    server = CommandSocketServer(workspace, handle, EventBus(workspace.events))
    server.start()
    try:
        read_end, write_end = os.pipe()
        connection = connect(workspace)
        data, fds = valid_request(workspace, read_end, write_end)
        socket.send_fds(connection, [data], fds)
        connection.close()
        wait_until(lambda: interrupted == [True], timeout=10)
        os.close(read_end)
        os.close(write_end)
    finally:
        server.stop()


def test_a_stopping_runner_interrupts_its_commands_and_waits_for_them(workspace: WorkspacePaths) -> None:
    """The runner flushes its writer after stop(): a command still writing then would lose what it wrote."""
    started, ended = threading.Event(), threading.Event()

    def handle(request: CommandRequest) -> int:
        started.set()
        wait_until(lambda: request.interrupted, timeout=10)
        ended.set()
        return 130

    server = CommandSocketServer(workspace, handle, EventBus(workspace.events))
    server.start()
    read_end, write_end = os.pipe()
    try:
        with connect(workspace) as connection:
            data, fds = valid_request(workspace, read_end, write_end)
            socket.send_fds(connection, [data], fds)
            assert started.wait(10)
            server.stop()
            assert ended.is_set()
            assert connection.recv(4096) == b"", "a command the person did not interrupt reports no exit code"
    finally:
        server.stop()
        os.close(read_end)
        os.close(write_end)
