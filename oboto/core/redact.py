"""Secrets oboto knows (keys, tokens, passwords in its environment) replaced by `[redacted]` in what tools return."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6
"""Shorter values ("1", "true", "dev") are not treated as secrets: redacting them would mangle ordinary text."""

_SECRET_ENDINGS = ("KEY", "KEYS", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASSPHRASE",
                   "CREDENTIAL", "CREDENTIALS")
_SECRET_WORDS = frozenset({"PAT", "PASS", "PW", "PWD"})
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret: a word of it ends in KEY, TOKEN, SECRET, …

    OPENAI_API_KEY, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, npm_config__authToken all do;
    TOKENIZERS_PARALLELISM and KEYBOARD do not.
    """
    if name.upper() in _NOT_SECRET:
        return False
    words = re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", name)
    return any(word.upper().endswith(_SECRET_ENDINGS) or word.upper() in _SECRET_WORDS for word in words if word)


class Redactor:
    """Replaces every known secret value in text (and in the strings of JSON-like data) by `[redacted]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {value for value in secrets if len(value) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        self._pattern = re.compile("|".join(re.escape(value) for value in sorted(values, key=len, reverse=True))) \
            if values else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, extra_names: Iterable[str] = ()) -> "Redactor":
        """The secrets in `environ` (default: this process's): names that look secret, plus `extra_names`."""
        environ = os.environ if environ is None else environ
        extra = set(extra_names)
        return cls(value for name, value in environ.items() if name in extra or looks_secret(name))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def data(self, value: Any) -> Any:
        """`value` with every string in it (dict keys and values, list items) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(key): self.data(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.data(item) for item in value)
        return value
