"""The environment a command gets: an allowlist of harmless variables, never oboto's secrets."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

BASIC_VARIABLES = ("PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL")
PYTHON_ENVIRONMENT_VARIABLES = (
    "VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_EXE", "CONDA_PYTHON_EXE",
    "CONDA_SHLVL", "PYENV_ROOT", "PYENV_VERSION",
)
"""The person's active Python or conda environment, so `python` and `pip` mean what they mean in their shell."""
ALLOWED_VARIABLES = BASIC_VARIABLES + PYTHON_ENVIRONMENT_VARIABLES
ALLOWED_PREFIXES = ("LC_",)


def command_environment(environ: Mapping[str, str], pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The allowlisted variables of `environ`, plus those the workspace names in `shell.pass_env`.

    TMPDIR is not taken over: each command gets its own temporary folder from the launcher.
    """
    extra = set(pass_env)
    chosen = {
        name: value for name, value in environ.items()
        if name in ALLOWED_VARIABLES or name.startswith(ALLOWED_PREFIXES) or name in extra
    }
    chosen.setdefault("PATH", os.defpath)
    return chosen
