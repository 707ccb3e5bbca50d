"""What the memory store keeps and returns, the rules for its input, and the texts agents are shown."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from oboto.core.errors import RequestRefused
from oboto.core.memory_rules import MAX_TAG_CHARS, MAX_TAGS, MAX_TEXT_CHARS, MEMORY_ID_PATTERN, MEMORY_KINDS
from oboto.core.text import cut

if TYPE_CHECKING:
    from oboto.services.task_models import TaskRecord

EPISODE_QUERY_CHARS = 300
EPISODE_OUTCOME_CHARS = 500
# Metadata keys the store itself writes; extra details may not reuse them.
RESERVED_KEYS = frozenset({"kind", "source", "tags", "created_at", "created_ts", "updated_at", "updated_ts", "times",
                           "digest"})

MetadataValue = str | int | float | bool


class MemoryStoreError(RequestRefused):
    """A memory request that cannot be done; the message is for the person or the model."""


class MemoryInputError(MemoryStoreError):
    """Bad input or an unknown id (the CLI exits 2, a tool returns an error)."""


class MemoryUnavailable(MemoryStoreError):
    """The store or the embedding model failed (the CLI exits 1)."""


def new_memory_id() -> str:
    return f"m-{secrets.token_hex(6)}"


def text_digest(kind: str, text: str) -> str:
    """The same for memories of one kind whose texts differ only in case, punctuation or spacing
    (embeddings may not see those as one)."""
    words = re.sub(r"[\W_]+", " ", text.casefold()).strip()
    return hashlib.sha256(f"{kind}\n{words}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class MemoryRecord:
    """One stored memory."""

    id: str
    text: str
    kind: str
    tags: tuple[str, ...] = ()
    source: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    times: int = 1
    """How often this memory was stored: near-identical copies update it instead of adding another."""
    extra: dict[str, MetadataValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "text": self.text, "kind": self.kind, "tags": list(self.tags), "source": self.source,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "times": self.times, **({"extra": self.extra} if self.extra else {}),
        }

    def to_metadata(self) -> dict[str, MetadataValue]:
        """The flat metadata Chroma stores: tags comma-joined, times as ISO text plus a sortable number."""
        metadata: dict[str, MetadataValue] = dict(self.extra)
        metadata.update({
            "kind": self.kind, "tags": ",".join(self.tags), "source": self.source or "",
            "created_at": self.created_at.isoformat(), "created_ts": self.created_at.timestamp(),
            "updated_at": self.updated_at.isoformat(), "updated_ts": self.updated_at.timestamp(),
            "times": self.times, "digest": text_digest(self.kind, self.text),
        })
        return metadata

    @classmethod
    def from_stored(cls, memory_id: str, text: str | None, metadata: dict[str, Any] | None) -> "MemoryRecord":
        metadata = dict(metadata or {})
        now = datetime.now(timezone.utc)
        return cls(
            id=memory_id,
            text=text or "",
            kind=str(metadata.get("kind") or "note"),
            tags=tuple(tag for tag in str(metadata.get("tags") or "").split(",") if tag),
            source=str(metadata["source"]) if metadata.get("source") else None,
            created_at=_parse_time(metadata.get("created_at"), now),
            updated_at=_parse_time(metadata.get("updated_at") or metadata.get("created_at"), now),
            times=int(metadata.get("times") or 1),
            extra={key: value for key, value in metadata.items() if key not in RESERVED_KEYS},
        )

    def line(self) -> str:
        """One line for the person or the model: id, kind, date, tags and the text on one line."""
        tags = f" [{', '.join(self.tags)}]" if self.tags else ""
        text = " ".join(self.text.split())
        return f"{self.id} ({self.kind}, {self.updated_at.strftime('%Y-%m-%d')}){tags}: {text}"


@dataclass(frozen=True)
class MemoryEntry:
    """One text for `remember_many` with its own tags, source and details (an episode of one task)."""

    text: str
    tags: tuple[str, ...] = ()
    source: str | None = None
    extra: dict[str, MetadataValue] | None = None


@dataclass(frozen=True)
class RecalledMemory:
    """A memory found by `recall`, with its cosine similarity to the query (1 is identical)."""

    record: MemoryRecord
    score: float

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "score": round(self.score, 4)}


def _parse_time(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(value)) if value else default
    except ValueError:
        return default


def clean_text(text: str, *, what: str = "text", limit: int = MAX_TEXT_CHARS) -> str:
    """`text` without surrounding blanks; refuses empty or over-long text."""
    if not isinstance(text, str) or not text.strip():
        raise MemoryInputError(f"the {what} is empty")
    cleaned = text.strip()
    if len(cleaned) > limit:
        raise MemoryInputError(f"the {what} is {len(cleaned)} characters long; at most {limit} are allowed")
    return cleaned


def clean_kind(kind: str) -> str:
    if kind not in MEMORY_KINDS:
        raise MemoryInputError(f"{kind!r} is not a memory kind; use one of {', '.join(MEMORY_KINDS)}")
    return kind


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags without blanks or repeats, in order; refuses commas (tags are stored comma-joined) and long ones."""
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise MemoryInputError(f"tag {tag!r} is not text")
        value = tag.strip()
        if not value:
            raise MemoryInputError("a tag is empty")
        if "," in value:
            raise MemoryInputError(f"tag {value!r} contains a comma; give each tag separately")
        if len(value) > MAX_TAG_CHARS:
            raise MemoryInputError(f"tag {value[:MAX_TAG_CHARS]!r}… is longer than {MAX_TAG_CHARS} characters")
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_TAGS:
        raise MemoryInputError(f"{len(cleaned)} tags given; at most {MAX_TAGS} are allowed")
    return tuple(cleaned)


def check_memory_id(memory_id: str) -> str:
    if not isinstance(memory_id, str) or not re.fullmatch(MEMORY_ID_PATTERN, memory_id):
        raise MemoryInputError(f"{memory_id!r} is not a memory id (they look like m-1a2b3c4d5e6f)")
    return memory_id


def check_extra(extra: dict[str, MetadataValue] | None) -> dict[str, MetadataValue]:
    details = dict(extra or {})
    clash = sorted(RESERVED_KEYS & details.keys())
    if clash:
        raise MemoryInputError(f"extra details may not use the reserved keys {', '.join(clash)}")
    return {key: value for key, value in details.items() if value is not None}


def memory_section(memories: Sequence[RecalledMemory], char_cap: int) -> str:
    """The Markdown section offered to a turn, at most `char_cap` characters; '' when there is nothing."""
    if not memories:
        return ""
    lines = ["## Memory",
             "Workspace memories that may be relevant (from earlier work; `recall` finds more, `remember` keeps "
             "something new):"]
    used = sum(len(line) + 1 for line in lines)
    shown = 0
    for memory in memories:
        line = f"- {memory.record.line()}"
        room = char_cap - used
        if len(line) > room:
            if shown == 0 and room > 40:
                lines.append(line[: room - 1] + "…")
                shown += 1
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    return "\n".join(lines) if shown else ""


def episode_of(record: "TaskRecord") -> tuple[str, list[str], dict[str, MetadataValue]]:
    """The text, tags and details of the episode a finished task leaves in memory."""
    if record.origin == "agent-loop":
        head = f"{record.description} (the agent loop) {record.status}."
    elif record.schedule_id:
        head = f'Scheduled task "{record.description}" ({record.schedule_id}) {record.status}.'
    else:
        head = f'Background task "{record.description}" {record.status}.'
    lines = [head]
    if record.origin != "agent-loop":  # a loop tick's query is the whole briefing: noise, not memory
        lines.append(f"Asked: {cut(record.query, EPISODE_QUERY_CHARS)}")
    outcome = record.result if record.status == "completed" else record.error
    if outcome and outcome.strip():
        lines.append(f"{'Result' if record.status == 'completed' else 'Error'}: {cut(outcome, EPISODE_OUTCOME_CHARS)}")
    tags = [tag.replace(",", " ").strip()[:MAX_TAG_CHARS] for tag in (record.origin, *record.tags)]
    extra: dict[str, MetadataValue] = {"status": record.status, "origin": record.origin}
    if record.schedule_id:
        extra["schedule_id"] = record.schedule_id
    return "\n".join(lines), list(dict.fromkeys(tag for tag in tags if tag))[:MAX_TAGS], extra
