"""Workspace paths, locks, atomic storage, models, settings and the event bus (no Textual)."""
