"""A scripted OpenAI-compatible chat-completions server on loopback, for tests and benchmarks.

Hand-written HTTP/1.1 over asyncio streams (no web framework), running in a daemon thread with
its own event loop, so sync code, async tests and subprocesses can all talk to it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Fault = Literal[None, "429", "500", "503", "401", "context_length", "drop", "slow", "drop_midstream"]
NO_SCRIPTED_REPLY = "(no scripted reply)"
SLOW_DEFAULT_SECONDS = 30.0

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class ScriptedToolCall:
    """A tool call the scripted model makes; a str `arguments` is sent verbatim (it may be broken JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """One scripted model reply, or a fault in its place."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)
    fault: Fault = None
    delay: float = 0.0  # before the response starts; how long "slow" hangs (30 s when 0)
    chunk_delay: float = 0.0  # between streamed chunks after the first piece
    chunk_size: int = 8  # characters of text (or tool arguments) per streamed chunk
    prompt_tokens: int = 10
    completion_tokens: int | None = None
    retry_after: float | None = None  # sent as a Retry-After header with error faults
    report_usage: bool = True  # False imitates providers that never report token usage

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """A reply from its JSON form (as in a `--script` file)."""
        values = dict(data)
        values["tool_calls"] = [
            call if isinstance(call, ScriptedToolCall) else ScriptedToolCall(**call)
            for call in values.get("tool_calls", [])
        ]
        return cls(**values)

    @property
    def estimated_completion_tokens(self) -> int:
        if self.completion_tokens is not None:
            return self.completion_tokens
        characters = len(self.text) + sum(len(c.name) + len(c.arguments_text) for c in self.tool_calls)
        return max(1, characters // 4)


class _CutConnection(Exception):
    """Raised to end a connection abruptly, as a scripted fault."""


def _error_body(message: str, error_type: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _fault_error(fault: str, api_key: str) -> tuple[int, dict[str, Any]]:
    """Status and OpenAI-style error body for an error fault."""
    if fault == "429":
        return 429, _error_body("Rate limit reached for requests. Please try again shortly.",
                                "rate_limit_error", "rate_limit_exceeded")
    if fault == "500":
        return 500, _error_body("The server had an error while processing your request.", "server_error", None)
    if fault == "503":
        return 503, _error_body("The engine is currently overloaded, please try again later.",
                                "server_error", "service_unavailable")
    if fault == "401":
        # Echoes the key like careless providers do, so tests can prove the client scrubs it.
        return 401, _error_body(f"Incorrect API key provided: {api_key}.", "invalid_request_error",
                                "invalid_api_key")
    return 400, _error_body(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
        "Please reduce the length of the messages.",
        "invalid_request_error", "context_length_exceeded",
    )


class ScriptedLLM:
    """An OpenAI-compatible server whose replies come from a FIFO, a handler, or a default."""

    def __init__(
        self,
        replies: list[Reply] | None = None,
        *,
        default: Reply | Callable[[dict[str, Any]], Reply] | None = None,
        port: int = 0,
        models: tuple[str, ...] = ("scripted",),
        models_delay: float = 0.0,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.models = models
        """What `GET /v1/models` lists (local discovery reads it)."""
        self.models_delay = models_delay
        """Seconds `GET /v1/models` waits before answering: a server too slow for discovery's timeout."""
        self.model_listings = 0
        """How many times the model list was asked for."""
        self._replies: collections.deque[Reply] = collections.deque(replies or [])
        self._default = default
        self._handler: Callable[[dict[str, Any]], Reply | None] | None = None
        self._requested_port = port
        self._port: int | None = None
        self._condition = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._serial = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedLLM:
        """Start serving in a daemon thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="scripted-llm", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving, cutting off any reply still in progress."""
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the scripted LLM server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def active_connections(self) -> int:
        """Client connections open right now; tests use it to see that a cancelled client hung up."""
        return len(self._connections)

    # -- scripting ---------------------------------------------------------------------------

    def add(self, *replies: Reply) -> None:
        """Queue replies, served in order to the next requests."""
        with self._condition:
            self._replies.extend(replies)

    def respond_with(self, handler: Callable[[dict[str, Any]], Reply | None]) -> None:
        """Answer with `handler(request)` whenever the queue is empty (None falls through to the default)."""
        with self._condition:
            self._handler = handler

    def wait_for_requests(self, n: int, timeout: float = 10) -> None:
        """Block until at least `n` chat requests arrived; TimeoutError otherwise."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.requests) >= n, timeout=timeout):
                raise TimeoutError(f"expected {n} requests within {timeout}s, got {len(self.requests)}")

    def _next_reply(self, request: dict[str, Any]) -> Reply:
        with self._condition:
            self.requests.append(request)
            self._condition.notify_all()
            if self._replies:
                return self._replies.popleft()
            handler = self._handler
        if handler is not None and (reply := handler(request)) is not None:
            return reply
        if isinstance(self._default, Reply):
            return self._default
        if self._default is not None:
            return self._default(request)
        return Reply(text=NO_SCRIPTED_REPLY)

    # -- event loop thread -------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", self._requested_port)
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as error:
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        # No write buffering: after drain() every byte is on the wire, so a deliberate cut loses nothing sent.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await self._serve_connection(reader, writer)
        except (_CutConnection, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.transport.abort()  # a scripted drop, or the client went away
        except asyncio.CancelledError:
            # Only stop() cancels; re-raising would make asyncio's stream callback log a traceback.
            writer.transport.abort()
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection until the client closes it or a reply needs the close."""
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _version = request_line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            keep_alive = await self._route(method, target.split("?", 1)[0], headers, body, writer)
            if not keep_alive or headers.get("connection", "").lower() == "close":
                return

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        path = path.rstrip("/")
        if path in ("/v1/models", "/models"):
            if method != "GET":
                return await self._send_json(writer, 405, _error_body("Use GET.", "invalid_request_error", None))
            self.model_listings += 1
            if self.models_delay:
                await asyncio.sleep(self.models_delay)
            listing = {"object": "list", "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "oboto"} for model in self.models]}
            return await self._send_json(writer, 200, listing)
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return await self._send_json(writer, 404, _error_body(f"No route {path}.", "invalid_request_error", None))
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            invalid = _error_body(f"Invalid JSON: {error}", "invalid_request_error", None)
            return await self._send_json(writer, 400, invalid)
        try:
            reply = self._next_reply(request)
        except Exception as error:
            message = f"The scripted reply handler failed: {error!r}"
            return await self._send_json(writer, 500, _error_body(message, "server_error", None))
        api_key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return await self._answer(request, reply, api_key, writer)

    async def _answer(self, request: dict[str, Any], reply: Reply, api_key: str, writer: asyncio.StreamWriter) -> bool:
        if reply.fault == "slow":
            await asyncio.sleep(reply.delay or SLOW_DEFAULT_SECONDS)
        elif reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.fault == "drop":
            raise _CutConnection
        if reply.fault in ("429", "500", "503", "401", "context_length"):
            status, error = _fault_error(reply.fault, api_key)
            extra = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            return await self._send_json(writer, status, error, extra)
        self._serial += 1
        completion_id = f"chatcmpl-scripted-{self._serial}"
        model = str(request.get("model", "scripted"))
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            await self._stream(writer, reply, completion_id, model, include_usage)
            return False
        payload = _completion(reply, completion_id, model)
        if reply.fault == "drop_midstream":
            data = json.dumps(payload).encode()
            writer.write(self._head(200, "application/json", {"Content-Length": str(len(data))}))
            writer.write(data[: len(data) // 2])
            await writer.drain()
            raise _CutConnection
        return await self._send_json(writer, 200, payload)

    async def _stream(
        self, writer: asyncio.StreamWriter, reply: Reply, completion_id: str, model: str, include_usage: bool
    ) -> None:
        """Send the reply as SSE chunks in chunked transfer encoding, so a cut-off is visible to the client."""
        streaming = {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"}
        writer.write(self._head(200, "text/event-stream", streaming))
        events = list(_stream_events(reply, completion_id, model, include_usage))
        if reply.fault == "drop_midstream":
            events = events[:3]
        for index, event in enumerate(events):
            if index > 1 and reply.chunk_delay:  # the opening role chunk and the first piece go out together
                await asyncio.sleep(reply.chunk_delay)
            data = f"data: {event}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        if reply.fault == "drop_midstream":
            raise _CutConnection
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    def _head(status: int, content_type: str, extra: dict[str, str], *, close: bool = True) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}",
                 f"Connection: {'close' if close else 'keep-alive'}"]
        lines += [f"{name}: {value}" for name, value in extra.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send_json(
        self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> bool:
        data = json.dumps(payload).encode()
        headers = {"Content-Length": str(len(data)), **(extra or {})}
        writer.write(self._head(status, "application/json", headers, close=False) + data)
        await writer.drain()
        return True


def _usage(reply: Reply) -> dict[str, int]:
    completion = reply.estimated_completion_tokens
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": completion,
            "total_tokens": reply.prompt_tokens + completion}


def _call_id(completion_id: str, index: int) -> str:
    return f"call_{completion_id.rsplit('-', 1)[-1]}_{index}"


def _completion(reply: Reply, completion_id: str, model: str) -> dict[str, Any]:
    """A non-streamed `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": _call_id(completion_id, index), "type": "function",
             "function": {"name": call.name, "arguments": call.arguments_text}}
            for index, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        **({"usage": _usage(reply)} if reply.report_usage else {}),
    }


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[start:start + size] for start in range(0, len(text), size)]


def _stream_events(reply: Reply, completion_id: str, model: str, include_usage: bool) -> Iterator[str]:
    """The SSE payloads of one streamed reply, `[DONE]` included."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return json.dumps({
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        })

    yield chunk({"role": "assistant", "content": ""})
    text = reply.text
    if reply.fault == "drop_midstream" and not text:
        text = "partial reply that never finishes"
    for piece in _pieces(text, reply.chunk_size):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk({"tool_calls": [{"index": index, "id": _call_id(completion_id, index), "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]})
        for piece in _pieces(call.arguments_text, reply.chunk_size):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage and reply.report_usage:
        yield json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                          "model": model, "choices": [], "usage": _usage(reply)})
    yield "[DONE]"
