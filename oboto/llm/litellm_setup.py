"""Import litellm lazily, once, silenced: it must never print into the terminal UI or reach the network at import."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import ModuleType

from oboto.core.log_files import StateLogHandler

# Loggers litellm and the HTTP stack under it write to; all go to oboto's log file instead of the terminal.
LIBRARY_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore", "openai", "aiohttp")

_lock = threading.Lock()
_litellm: ModuleType | None = None
_routed_to: Path | None = None


def load_litellm(log_path: Path | None = None) -> ModuleType:
    """The litellm module, imported and silenced on first use (thread-safe); a later log_path re-routes its logs."""
    global _litellm, _routed_to
    if _litellm is not None and (log_path is None or log_path == _routed_to):
        return _litellm
    with _lock:
        if _litellm is None:
            _quiet_environment()
            import litellm

            _quiet_module(litellm)
            route_library_logs(log_path)
            _litellm, _routed_to = litellm, log_path
        elif log_path is not None and log_path != _routed_to:
            route_library_logs(log_path)
            _routed_to = log_path
    return _litellm


def _quiet_environment() -> None:
    """Environment litellm reads at import: the bundled cost map (no download) and no log output."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_LOG", "CRITICAL")


def _quiet_module(litellm: ModuleType) -> None:
    """Module switches that stop litellm printing hints or calling out to anything but the model."""
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    # Its redaction only shields logging callbacks, and there are none (cleared below): left on, it deep-copied
    # every request (messages and tool schemas) once more per call, for nobody.
    litellm.turn_off_message_logging = False
    litellm.success_callback = []
    litellm.failure_callback = []
    litellm.callbacks = []


def route_library_logs(log_path: Path | None) -> None:
    """Send the library loggers to `log_path` (or nowhere), replacing the stream handlers litellm installed."""
    if log_path is not None:
        handler: logging.Handler = StateLogHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for existing in list(logger.handlers):
            logger.removeHandler(existing)
            if existing is not handler and isinstance(existing, logging.FileHandler):
                existing.close()
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
