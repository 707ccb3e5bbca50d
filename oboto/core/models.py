"""The base of every persisted document: versioned, and keeping fields written by newer versions."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Document(BaseModel):
    """A JSON document kept in `.oboto/`; unknown fields are kept so newer versions lose nothing."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    version: int = Field(default=FORMAT_VERSION, ge=1)

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json")


class Record(BaseModel):
    """A nested record inside a document; keeps unknown fields too."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
