"""Loading workspace documents: validate with pydantic, quarantine what does not parse, never overwrite it."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from oboto.core.atomic import atomic_write_json, fsync_dir
from oboto.core.bus import EventBus
from oboto.core.events import FileQuarantined

M = TypeVar("M", bound=BaseModel)


def quarantine_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return path.with_name(f"{path.name}.corrupt-{stamp}")


def describe_error(error: Exception) -> str:
    """One plain sentence about why a file was rejected."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    if isinstance(error, orjson.JSONDecodeError):
        return f"not valid JSON ({error})"
    return str(error)


def quarantine(path: Path, reason: str, bus: EventBus | None) -> Path:
    """Move a bad file aside as `<file>.corrupt-<timestamp>` and report it."""
    target = quarantine_name(path)
    os.replace(path, target)
    fsync_dir(path.parent)
    if bus is not None:
        bus.publish(FileQuarantined(path=str(path), moved_to=str(target), reason=reason))
    return target


def load_document(path: Path, model: type[M], bus: EventBus | None) -> M | None:
    """The validated document at `path`; None when it does not exist or was quarantined as corrupt."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError, ValueError) as error:
        quarantine(path, describe_error(error), bus)
        return None


def save_document(path: Path, document: BaseModel) -> None:
    atomic_write_json(path, document.model_dump(mode="json"))
