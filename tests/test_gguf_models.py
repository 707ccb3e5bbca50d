"""Any GGUF file as the model (`OBOTO_MODEL=local/<path>` or `[llm] model_path`): a path that exists (the shipped
SmolLM2 file counts), one that does not, a file that is not GGUF and a folder, each refused in one plain line
(exit 2 from `oboto run`), and the doctor's word on each."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest

from cli_helpers import oboto
from oboto.commands import doctor
from oboto.core.config import Settings
from oboto.core.paths import WorkspacePaths
from oboto.llm.local import local_model_path
from oboto.llm.local_models import locate_local_model
from oboto.llm.resolve import LOCAL_MODEL, ModelChoice, local_extra_installed, resolve_model
from oboto.llm.types import LLMError

needs_llama_cpp = pytest.mark.skipif(not local_extra_installed(),
                                     reason="needs the local extra: pip install -e '.[local]'")


@pytest.fixture
def shipped_gguf() -> Path:
    if not local_extra_installed():
        pytest.skip("needs the local extra (llama-cpp-python and the packaged SmolLM2 file)")
    return local_model_path(LOCAL_MODEL)


def test_model_path_in_the_llm_table_names_a_local_model() -> None:
    settings = Settings(llm={"model_path": "models/qwen.gguf"})
    assert resolve_model(settings, {}) == ModelChoice("local/models/qwen.gguf", "[llm] model_path is set")
    assert resolve_model(Settings(model="openai/gpt-4o", llm={"model_path": "x.gguf"}), {}).model == "openai/gpt-4o"


def test_the_shipped_gguf_file_runs_by_its_path(shipped_gguf: Path) -> None:
    model_file = locate_local_model(f"local/{shipped_gguf}")
    assert model_file.path == shipped_gguf and model_file.small
    assert model_file.title == shipped_gguf.name


def test_a_relative_path_is_inside_the_workspace(shipped_gguf: Path, workspace: WorkspacePaths) -> None:
    (workspace.root / "models").mkdir()
    (workspace.root / "models" / "smol.gguf").symlink_to(shipped_gguf)
    assert locate_local_model("local/models/smol.gguf", workspace.root).path == workspace.root / "models" / "smol.gguf"


@needs_llama_cpp
def test_a_missing_file_is_refused_in_plain_words(tmp_path: Path) -> None:
    with pytest.raises(LLMError) as caught:
        locate_local_model("local/nowhere/model.gguf", tmp_path)
    assert caught.value.kind == "not_found"
    assert caught.value.message == (f"There is no model file {tmp_path / 'nowhere' / 'model.gguf'} (from "
                                    "local/nowhere/model.gguf): give the path of a GGUF file after local/, or a "
                                    "shipped local model (local/smollm2).")


@needs_llama_cpp
def test_a_file_that_is_not_gguf_is_refused_by_its_first_bytes(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip archive, renamed")
    with pytest.raises(LLMError) as caught:
        locate_local_model(f"local/{fake}")
    assert caught.value.message.startswith(f"{fake} is not a GGUF model file (it does not start with the bytes GGUF)")
    real_enough = tmp_path / "header-only.gguf"
    real_enough.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert locate_local_model(f"local/{real_enough}").path == real_enough


@needs_llama_cpp
def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LLMError) as caught:
        locate_local_model(f"local/{tmp_path}")
    assert caught.value.message == f"{tmp_path} is a folder, not a GGUF model file (from local/{tmp_path})."


@needs_llama_cpp
@pytest.mark.parametrize("content,expected", [
    (None, "There is no model file"),
    (b"not a model at all", "is not a GGUF model file"),
], ids=["missing", "not-gguf"])
def test_oboto_run_refuses_a_bad_model_file_with_one_line(workspace: WorkspacePaths, content: bytes | None,
                                                         expected: str) -> None:
    if content is not None:
        (workspace.root / "model.gguf").write_bytes(content)
    result = oboto(workspace.root, "run", "hello", env={"OBOTO_MODEL": "local/model.gguf"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr
    chat = workspace.conversation_file("chat")
    assert not chat.exists() or "hello" not in chat.read_text(), "nothing is stored for a model that cannot answer"


def doctor_model_line(workspace: WorkspacePaths) -> doctor.Check:
    checks = doctor.gather(Namespace(workspace=str(workspace.root), json=False))
    return next(check for check in checks if check.name == "model")


def test_doctor_names_the_file_a_model_path_runs(shipped_gguf: Path, workspace: WorkspacePaths,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (workspace.state_dir / "config.toml").write_text(f'[llm]\nmodel_path = "{shipped_gguf}"\n')
    check = doctor_model_line(workspace)
    assert check.ok
    assert check.detail == f"local/{shipped_gguf}, runs in-process from {shipped_gguf.name} ([llm] model_path is set)"


@needs_llama_cpp
def test_doctor_fails_on_a_file_that_is_not_gguf(workspace: WorkspacePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    (workspace.root / "weights.bin").write_bytes(b"\x00" * 16)
    monkeypatch.setenv("OBOTO_MODEL", "local/weights.bin")
    check = doctor_model_line(workspace)
    assert not check.ok and "is not a GGUF model file" in check.detail
