"""What a blocking question may be, checked alike by the tool that asks it and the service that stores it."""

from __future__ import annotations

MAX_QUESTION_CHARS = 2000
