"""Saying which model answers, once per workspace: the first time a model oboto chose by itself (or a small local
one) is used here, the TUI and `oboto run` tell the person which one it is (and, for a small local model, how to
get a better one). The models already introduced are kept in `.oboto/model-introductions.json`, so a new process
does not say it again, and a new model (a local server started, a key set) is introduced in its turn.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field

from oboto.core.bus import EventBus
from oboto.core.models import Document, utc_now
from oboto.core.store import document_transaction
from oboto.llm.resolve import ModelChoice, introduction


class IntroducedModels(Document):
    models: dict[str, datetime] = Field(default_factory=dict)
    """Each model introduced (with where it is served, for a local server) and when."""


class ModelIntroductions:
    """The only writer of `.oboto/model-introductions.json`."""

    def __init__(self, path: Path, bus: EventBus | None) -> None:
        self.path = path
        self.bus = bus

    def first_time(self, choice: ModelChoice, base_dir: Path | None = None, *, named: bool = False) -> str:
        """The introduction of `choice` if it has one this workspace has not had yet (recorded now), else ""."""
        text = introduction(choice, base_dir, named=named)
        if not text:
            return ""
        key = choice.model if choice.api_base is None else f"{choice.model} at {choice.api_base}"
        with document_transaction(self.path, IntroducedModels, self.bus, default=IntroducedModels) as tx:
            if key in tx.doc.models:
                return ""
            tx.doc.models = {**tx.doc.models, key: utc_now()}
        return text
