"""What a CLI client and the runner's socket (services/command_socket.py) agree on, apart from the server so the
client loads nothing but the stdlib: a short command handed to a warm runner must start as fast as `--help`."""

from __future__ import annotations

import json
import os
import socket
import struct

PROTOCOL = 1
_UCRED = struct.Struct("3i")

_ENVIRONMENT_NOISE = ("PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLORTERM", "COLUMNS", "LINES", "WINDOWID",
                      "PS1", "PS2", "PROMPT_COMMAND", "LS_COLORS", "SSH_TTY", "SSH_CONNECTION", "SSH_CLIENT",
                      "GPG_TTY")
_ENVIRONMENT_NOISE_PREFIXES = ("TERM_", "TMUX", "KITTY_", "ITERM_", "VTE_", "WT_", "PYTEST_")


def environment_fingerprint(environ: dict[str, str] | os._Environ[str]) -> str:
    """A digest of the environment, leaving out what each terminal or shell sets for itself: settings, provider
    keys and paths all come from the environment, so a client whose environment differs does its own work."""
    import hashlib

    kept = sorted((name, value) for name, value in environ.items()
                  if name not in _ENVIRONMENT_NOISE and not name.startswith(_ENVIRONMENT_NOISE_PREFIXES))
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def peer_credentials(connection: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end."""
    return _UCRED.unpack(connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
