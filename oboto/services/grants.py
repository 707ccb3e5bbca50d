"""Allow rules the person added by answering "always", kept in `.oboto/grants.json` per scope.

A scope is what the answer was about: `conversation:<name>` for the person's own turns, `schedule:<id>` for
every run of a schedule, `loop` for the agent loop, `task:<id>` for one task. The gate reads them before
every call, so the file is cached by its stat and re-read only when another process changed it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pydantic import Field

from oboto.core.bus import EventBus
from oboto.core.models import Document, Record, utc_now
from oboto.core.permissions import RuleError, parse_rule
from oboto.core.store import document_transaction, load_document


class Grant(Record):
    scope: str = Field(min_length=1)
    rule: str = Field(min_length=1)
    granted_at: datetime = Field(default_factory=utc_now)
    by: str = "the person"


class GrantBook(Document):
    grants: list[Grant] = Field(default_factory=list)


class GrantStore:
    """The only writer of `.oboto/grants.json`."""

    def __init__(self, path: Path, bus: EventBus | None) -> None:
        self.path = path
        self.bus = bus
        self._cache: tuple[tuple[int, int, int] | None, GrantBook] = (None, GrantBook())

    def _book(self) -> GrantBook:
        try:
            stat = os.stat(self.path)
            key: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            return GrantBook()
        if key != self._cache[0]:
            self._cache = (key, load_document(self.path, GrantBook, self.bus) or GrantBook())
        return self._cache[1]

    def rules(self, scope: str) -> list[str]:
        """The allow rules of `scope` that still parse (a hand-edited bad one is skipped, never widened)."""
        kept = []
        for grant in self._book().grants:
            if grant.scope != scope:
                continue
            try:
                parse_rule(grant.rule, "allow")
            except RuleError:
                continue
            kept.append(grant.rule)
        return kept

    def grant(self, scope: str, rule: str, *, by: str) -> None:
        parse_rule(rule, "allow")
        with document_transaction(self.path, GrantBook, self.bus, default=GrantBook) as tx:
            if not any(item.scope == scope and item.rule == rule for item in tx.doc.grants):
                tx.doc.grants.append(Grant(scope=scope, rule=rule, by=by))

    def all(self) -> list[Grant]:
        return list(self._book().grants)
