"""The ctypes Landlock layer on its own: the ABI probe, its plain-words failures, and a ruleset applied for real."""

from __future__ import annotations

import errno
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from attack_helpers import linux_only, needs_landlock
from oboto.agent.sandbox import landlock

pytestmark = linux_only


def restricted(code: str, **ruleset: object) -> dict:
    """Run `code` in a fresh Python that first restricts itself with Ruleset(**ruleset); it prints a JSON result."""
    script = textwrap.dedent(f"""
        import json, os, socket
        from oboto.agent.sandbox.landlock import Ruleset, abi_version
        Ruleset(abi_version(), **{ruleset!r}).restrict_self()
    """) + textwrap.dedent(code)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return orjson.loads(completed.stdout)


def attempt(action: str) -> str:
    """Code that runs `action` and records "ok" or the error's name."""
    return textwrap.dedent(f"""
        try:
            {action}
            outcome = "ok"
        except OSError as error:
            outcome = type(error).__name__
    """)


def test_the_rights_of_each_abi() -> None:
    assert landlock.fs_rights(1) == (1 << 13) - 1
    assert landlock.fs_rights(2) & landlock.REFER and not landlock.fs_rights(2) & landlock.TRUNCATE
    assert landlock.fs_rights(4) == landlock.fs_rights(3)
    assert landlock.fs_rights(7) == landlock.fs_rights(5) == (1 << 16) - 1


@pytest.mark.parametrize("code,reason", [
    (errno.ENOSYS, "has no Landlock (it needs Linux 5.13 or newer"),
    (errno.EOPNOTSUPP, "turned off at boot"),
    (errno.EPERM, "seccomp filter refuses"),
])
def test_unavailability_is_explained(monkeypatch: pytest.MonkeyPatch, code: int, reason: str) -> None:
    def refuse(*_: object) -> int:
        raise OSError(code, "refused")

    monkeypatch.setattr(landlock, "_syscall", refuse)
    with pytest.raises(landlock.LandlockUnavailable, match=re.escape(reason)):
        landlock.abi_version()


@needs_landlock
def test_writes_only_below_the_writable_folders(tmp_path: Path) -> None:
    allowed, denied = tmp_path / "allowed", tmp_path / "denied"
    allowed.mkdir()
    denied.mkdir()
    (allowed / "link").symlink_to(denied)
    code = (attempt(f"open({str(allowed / 'f')!r}, 'w').close()") + "inside = outcome\n"
            + attempt(f"open({str(denied / 'f')!r}, 'w').close()") + "outside = outcome\n"
            + attempt(f"open({str(allowed / 'link' / 'g')!r}, 'w')") + "through_link = outcome\n"
            + attempt("open('/etc/hostname').read()") + "read = outcome\n"
            + attempt("open('/dev/null', 'w').write('x')") + "null = outcome\n"
            + "print(json.dumps([inside, outside, through_link, read, null]))")
    result = restricted(code, writable=[str(allowed), "/dev/null", str(tmp_path / "missing")])
    assert result == ["ok", "PermissionError", "PermissionError", "ok", "ok"]
    assert (allowed / "f").exists() and not (denied / "f").exists() and not (denied / "g").exists()


@needs_landlock
def test_tcp_is_refused_without_network() -> None:
    code = (attempt("socket.socket().bind(('127.0.0.1', 0))") + "bind = outcome\n"
            + attempt("socket.create_connection(('127.0.0.1', 9), 2)") + "connect = outcome\n"
            + "print(json.dumps([bind, connect]))")
    if landlock.abi_version() < 4:
        pytest.skip("TCP rules need Landlock ABI 4")
    assert restricted(code, network=False) == ["PermissionError", "PermissionError"]


@needs_landlock
def test_signals_to_processes_outside_are_refused() -> None:
    if landlock.abi_version() < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    code = attempt("os.kill(os.getppid(), 0)") + "print(json.dumps(outcome))"
    assert restricted(code) == "PermissionError"
