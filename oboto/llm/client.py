"""One async model client over litellm: streaming, tool calls, retries with backoff, usage and plain-word errors.

litellm is imported on the first call, never at import time, so `oboto --help` stays fast.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from oboto.core.config import LLMSettings, Settings
from oboto.llm.litellm_setup import load_litellm
from oboto.llm.preflight import unknown_provider_problem
from oboto.llm.providers import missing_key_problem, provider_key_env
from oboto.llm.types import ErrorKind, LLMError, LLMResponse, ToolCallRequest, Usage

T = TypeVar("T")

NOT_CONFIGURED_MESSAGE = (
    "No model is configured. Set OBOTO_MODEL (for example openai/gpt-4o-mini) "
    "or `model` in .oboto/config.toml, and the provider's API key (for example OPENAI_API_KEY)."
)
_DETAIL_LIMIT = 300
_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 408: "timeout", 413: "context_length",
    422: "bad_request", 429: "rate_limit",
}

# Where each provider's credentials live when it is not simply <PROVIDER>_API_KEY.
_SECRET_SHAPES = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai|key|hf)[-_][A-Za-z0-9_\-]{6,}"
    r"|\bAIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+\S+"
)
_SECRET_VARIABLE_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
# litellm prefixes provider messages with class names ("litellm.RateLimitError: OpenAIException - ...").
_LIBRARY_PREFIX = re.compile(r"^\s*(?:litellm\.)?\w*(?:Error|Exception|Timeout)\s*[:\-]\s*")
_LIBRARY_SUFFIX = re.compile(r"\s*(?:Original exception:|Error_str:|LiteLLM Retried:|Received Model Group).*$", re.S)


class LLMClient:
    """Calls the configured model; owns retries, timeouts and error wording so callers only see LLMResponse/LLMError."""

    small = False
    """Provider models get the full prompt and every tool (agent/small_model.py is for tiny local ones)."""

    def __init__(self, settings: Settings, *, log_path: Path | None = None, api_key: str | None = None) -> None:
        self.model = settings.model
        self.api_base = settings.api_base
        self.api_key = api_key
        """A key passed with every request instead of the provider's variable (a discovered local server's)."""
        self.options: LLMSettings = settings.llm
        self.log_path = log_path

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
        """One model reply, retrying transient failures; raises LLMError in plain words."""
        if not self.model:
            raise LLMError("not_configured", NOT_CONFIGURED_MESSAGE)
        if not self.api_key and (problem := missing_key_problem(self.model, os.environ, api_base=self.api_base)):
            raise LLMError("auth", problem)  # no call can succeed: nothing is sent, nothing retried
        # The first call imports litellm (~2.5 s): off the event loop, so a UI or runner never freezes on it.
        litellm = await asyncio.to_thread(load_litellm, self.log_path)
        if problem := unknown_provider_problem(self.model, self.api_base):
            raise LLMError("not_found", problem)
        request = self._request(messages, tools, stream)
        attempt = 0
        while True:
            attempt += 1
            reply = _Accumulator(on_text)
            try:
                if stream:
                    await self._stream_once(litellm, request, reply)
                else:
                    reply.add_message(await self._guarded(litellm.acompletion(**request)))
            except _AttemptFailed as failure:
                error = failure.error
                error.attempts = attempt
                if not self._may_retry(error, attempt, reply.delivered_text, on_restart is not None):
                    raise error from failure.__cause__
                delay = backoff_delay(attempt, self.options, retry_after_seconds(failure.__cause__))
                if reply.delivered_text and on_restart is not None:
                    on_restart()
                if on_retry is not None:
                    on_retry(attempt, delay, error)
                await asyncio.sleep(delay)
                continue
            return reply.build(litellm, self.model, messages, attempt)

    def _request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, stream: bool
    ) -> dict[str, Any]:
        """litellm keyword arguments; its own and the SDK's retries are off because oboto retries."""
        request: dict[str, Any] = {
            "model": self.model, "messages": messages, "stream": stream,
            "timeout": self.options.timeout_seconds, "num_retries": 0, "max_retries": 0,
        }
        if stream:
            request["stream_options"] = {"include_usage": True}
        if tools:
            request["tools"] = tools
        if self.api_base:
            request["api_base"] = self.api_base
        if self.api_key:
            request["api_key"] = self.api_key
        if self.options.temperature is not None:
            request["temperature"] = self.options.temperature
        if self.options.max_tokens is not None:
            request["max_tokens"] = self.options.max_tokens
        return request

    async def _stream_once(self, litellm: ModuleType, request: dict[str, Any], reply: _Accumulator) -> None:
        """Consume one streamed attempt into `reply`; the stream is closed however this ends (cancellation too)."""
        stream = await self._guarded(litellm.acompletion(**request))
        try:
            while (chunk := await self._guarded(anext(stream, None))) is not None:
                reply.add_chunk(chunk)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    async def _guarded(self, awaitable: Awaitable[T]) -> T:
        """Await a provider call with the idle timeout; its failures become _AttemptFailed (callback bugs do not)."""
        timed_out = LLMError("timeout", f"The model did not answer within {self.options.timeout_seconds:g} seconds.")
        try:
            async with asyncio.timeout(self.options.timeout_seconds):
                return await awaitable
        except TimeoutError as exc:
            raise _AttemptFailed(timed_out) from exc
        except Exception as exc:
            error = classify_error(exc, model=self.model)
            # litellm's own timer may fire first; the person sees the same words either way.
            raise _AttemptFailed(timed_out if error.kind == "timeout" else error) from exc

    def _may_retry(self, error: LLMError, attempt: int, delivered_text: bool, can_restart: bool) -> bool:
        """Transient errors are retried while attempts remain, but shown text is only taken back via on_restart."""
        if not error.transient or attempt > self.options.max_retries:
            return False
        return not delivered_text or can_restart


class _AttemptFailed(Exception):
    """A provider-side failure of one attempt, kept apart from exceptions raised by the caller's callbacks."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _PartialToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Accumulator:
    """Builds one reply from stream deltas (or a whole message), passing text on to `on_text` as it comes."""

    on_text: Callable[[str], None] | None
    text: list[str] = field(default_factory=list)
    tool_calls: dict[int, _PartialToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None
    delivered_text: bool = False

    def add_chunk(self, chunk: Any) -> None:
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self._add_text(delta.content)
            for position, call in enumerate(getattr(delta, "tool_calls", None) or []):
                self._add_tool_call_piece(call, position)

    def add_message(self, response: Any) -> None:
        """A non-streamed response, recorded as if it had arrived in one chunk."""
        self.usage = getattr(response, "usage", None)
        choice = response.choices[0]
        self.finish_reason = choice.finish_reason
        if choice.message.content:
            self._add_text(choice.message.content)
        for position, call in enumerate(choice.message.tool_calls or []):
            self._add_tool_call_piece(call, position)

    def _add_text(self, piece: str) -> None:
        self.text.append(piece)
        if self.on_text is not None:
            self.on_text(piece)
            self.delivered_text = True

    def _add_tool_call_piece(self, call: Any, position: int) -> None:
        """Arguments arrive in pieces keyed by index; id and name arrive once, with the first piece."""
        index = getattr(call, "index", None)
        partial = self.tool_calls.setdefault(position if index is None else index, _PartialToolCall())
        function = getattr(call, "function", None)
        partial.id = partial.id or (getattr(call, "id", None) or "")
        partial.name = partial.name or (getattr(function, "name", None) or "")
        if arguments := getattr(function, "arguments", None):
            partial.arguments.append(arguments)

    def build(self, litellm: ModuleType, model: str, messages: list[dict[str, Any]], attempts: int) -> LLMResponse:
        text = "".join(self.text)
        calls = [
            ToolCallRequest(id=partial.id or f"call_{uuid.uuid4().hex[:24]}", name=partial.name,
                            arguments="".join(partial.arguments))
            for _, partial in sorted(self.tool_calls.items())
        ]
        generated = text + "".join(call.arguments for call in calls)
        usage = _usage(litellm, model, self.usage, messages, generated)
        return LLMResponse(text=text, tool_calls=calls, usage=usage, finish_reason=self.finish_reason,
                           model=model, attempts=attempts)


def _usage(litellm: ModuleType, model: str, reported: Any, messages: list[dict[str, Any]], generated: str) -> Usage:
    """Token counts as the provider reported them (estimated when it did not), priced when litellm knows the model."""
    prompt = getattr(reported, "prompt_tokens", None) or 0
    completion = getattr(reported, "completion_tokens", None) or 0
    if not prompt and not completion:  # litellm fills zeros when the provider sent no usage
        prompt = _count_tokens(litellm, model, messages=messages)
        completion = _count_tokens(litellm, model, text=generated)
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt, completion_tokens=completion
        )
        cost = float(prompt_cost + completion_cost)
    except Exception:
        cost = 0.0  # a model litellm has no price for costs nothing rather than failing the reply
    return Usage(prompt_tokens=int(prompt), completion_tokens=int(completion), cost_usd=cost)


def _count_tokens(litellm: ModuleType, model: str, **content: Any) -> int:
    try:
        return int(litellm.token_counter(model=model, **content))
    except Exception:
        return 0


# -- errors ------------------------------------------------------------------------------------


def classify_error(exc: BaseException, *, model: str | None = None) -> LLMError:
    """The LLMError (kind, plain message, HTTP status) for any exception raised by a model call."""
    if isinstance(exc, LLMError):
        return exc
    load_litellm()
    from litellm import exceptions as litellm_errors

    original = getattr(exc, "original_exception", None)
    if isinstance(exc, litellm_errors.MidStreamFallbackError) and isinstance(original, Exception):
        return classify_error(original, model=model)
    model_name = model or getattr(exc, "model", None) or "the model"
    kind = _error_kind(exc, litellm_errors)
    status = getattr(exc, "status_code", None) if kind != "connection" else None
    return LLMError(kind, _error_message(kind, model_name, status, exc), status_code=status)


def _error_kind(exc: BaseException, litellm_errors: ModuleType) -> ErrorKind:
    """Exception classes first (litellm maps providers onto OpenAI's), then the HTTP status."""
    import httpx
    import openai

    if isinstance(exc, litellm_errors.ContextWindowExceededError):
        return "context_length"
    if any(_is_missing_credentials(link, openai) for link in _exception_chain(exc)):
        return "auth"  # litellm reports the SDK's refusal to start without a key as a server error (HTTP 500)
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "auth"
    timeouts = (openai.APITimeoutError, TimeoutError, httpx.TimeoutException)
    if isinstance(exc, timeouts):
        return "timeout"
    if isinstance(exc, (openai.APIConnectionError, ConnectionError, httpx.TransportError)):
        # litellm reports its own read timeout mid-stream as a connection error raised from httpx.ReadTimeout
        return "timeout" if any(isinstance(link, timeouts) for link in _exception_chain(exc)) else "connection"
    if isinstance(exc, openai.InternalServerError) and "Connection error" in str(exc):
        return "connection"  # litellm reports a refused or dropped connection as HTTP 500
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return _KIND_BY_STATUS.get(status, "server" if status >= 500 else "unknown")
    return "unknown"


def _is_missing_credentials(exc: BaseException, openai: ModuleType) -> bool:
    """The OpenAI SDK's own error (raised before any request) about a key it was not given."""
    if not isinstance(exc, openai.OpenAIError) or isinstance(exc, openai.APIError):
        return False
    text = str(exc).lower()
    return "api_key" in text or "credentials" in text


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _error_message(kind: ErrorKind, model: str, status: int | None, exc: BaseException) -> str:
    """One plain sentence, the HTTP status when known, then a hint or the provider's scrubbed words."""
    sentences: dict[str, str] = {
        "rate_limit": "The model provider is limiting requests (rate limit)",
        "server": "The model provider had a server error",
        "timeout": "The model provider did not answer in time",
        "connection": "The connection to the model provider failed or was cut off",
        "auth": "The model provider rejected the API key",
        "context_length": f"The conversation is too long for {model}'s context window",
        "bad_request": "The model provider refused the request",
        "not_found": f"Model {model} was not found at the provider",
        "unknown": "The model call failed",
    }
    message = sentences[kind] + (f" (HTTP {status})." if status else ".")
    if kind == "auth":
        return missing_key_problem(model, os.environ) or f"{message} Check {api_key_variable(model)}."
    if kind == "not_found":
        message += " Check the model name (OBOTO_MODEL, or /model in a conversation)."
    detail = provider_detail(exc)
    if detail and kind != "context_length":
        message += f" Details: {detail}"
    return message


def provider_detail(exc: BaseException) -> str:
    """The provider's own words from an exception, without litellm's prefixes and without secrets."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    previous = None
    while previous != text:
        previous, text = text, _LIBRARY_PREFIX.sub("", text, count=1)
    text = scrub_secrets(_LIBRARY_SUFFIX.sub("", text).strip())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def scrub_secrets(text: str) -> str:
    """Remove API keys from text: the values of secret-looking environment variables and key-shaped tokens."""
    for name, value in os.environ.items():
        if len(value) >= 6 and any(word in name.upper() for word in _SECRET_VARIABLE_WORDS):
            text = text.replace(value, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text)


def api_key_variable(model: str) -> str:
    """The environment variable that holds the key for a model's provider, e.g. OPENAI_API_KEY."""
    return provider_key_env(model) or "the provider's API key variable"


# -- retries -----------------------------------------------------------------------------------


def backoff_delay(retry: int, options: LLMSettings, retry_after: float | None = None) -> float:
    """Seconds before retry number `retry` (1-based): capped exponential with jitter, at least Retry-After."""
    delay = options.backoff_initial_seconds * 2 ** (retry - 1) * random.uniform(1.0, 1.2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, options.backoff_max_seconds)


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The provider's Retry-After (seconds or HTTP date) from a failed call, when it sent one."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
