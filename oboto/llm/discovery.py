"""Local model servers found by themselves: Ollama, LM Studio and llama.cpp's server, on 127.0.0.1 only.

Each is asked for its OpenAI-compatible model list (`GET /v1/models`) at the same time, with a short timeout;
the first of them in this order that lists a model is used. The answer is kept for the life of the process,
so the probe costs one round of loopback connections at most once (usually well under a millisecond: a port
nobody listens on refuses at once; only a server that accepts and then hangs costs the timeout).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
MODELS_PATH = "/v1/models"
PROBE_TIMEOUT_SECONDS = 0.5
MAX_LISTING_BYTES = 1 << 20


@dataclass(frozen=True)
class LocalServer:
    """A kind of local server and the port it listens on by default."""

    name: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.port})"


DEFAULT_LOCAL_SERVERS = (LocalServer("Ollama", 11434), LocalServer("LM Studio", 1234),
                         LocalServer("llama.cpp server", 8080))


@dataclass(frozen=True)
class ProbeResult:
    """What one server said: the models it lists, or why it cannot be used."""

    server: LocalServer
    models: tuple[str, ...] = ()
    problem: str = ""

    @property
    def usable(self) -> bool:
        return bool(self.models)

    def describe(self) -> str:
        if self.usable:
            listed = ", ".join(self.models[:5]) + (f" and {len(self.models) - 5} more" if len(self.models) > 5 else "")
            return f"{self.server.label}: lists {listed}"
        return f"{self.server.label}: {self.problem}"


@dataclass(frozen=True)
class Discovery:
    """Every server probed, in order of preference; `found` is the first that lists a model."""

    results: tuple[ProbeResult, ...]

    @property
    def found(self) -> ProbeResult | None:
        return next((result for result in self.results if result.usable), None)

    def describe(self) -> str:
        return "; ".join(result.describe() for result in self.results)


_probed: dict[tuple[tuple[LocalServer, ...], float], Discovery] = {}
_probe_lock = threading.Lock()


def discover_local_servers(candidates: tuple[LocalServer, ...] = DEFAULT_LOCAL_SERVERS,
                           timeout: float = PROBE_TIMEOUT_SECONDS) -> Discovery:
    """Probe `candidates` concurrently (blocking at most about `timeout`); the answer is cached per process."""
    key = (candidates, timeout)
    with _probe_lock:  # a second caller waits for the first probe instead of starting its own
        if key not in _probed:
            _probed[key] = _probe_all(candidates, timeout)
        return _probed[key]


def _probe_all(candidates: tuple[LocalServer, ...], timeout: float) -> Discovery:
    if not candidates:
        return Discovery(())
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(candidates), thread_name_prefix="oboto-probe")
    futures = [pool.submit(_probe, server, timeout) for server in candidates]
    # Each probe bounds itself with its socket timeout; the margin only covers thread start-up on a busy machine.
    done, _late = concurrent.futures.wait(futures, timeout=timeout * 2 + 0.5)
    pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for server, future in zip(candidates, futures):
        late = ProbeResult(server, problem=f"no answer within {timeout:g} s")
        results.append(future.result() if future in done else late)
    return Discovery(tuple(results))


def _probe(server: LocalServer, timeout: float) -> ProbeResult:
    """`GET /v1/models` on one port; http.client rather than httpx keeps oboto's start free of a heavier import."""
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=timeout)
    try:
        connection.request("GET", MODELS_PATH, headers={"Accept": "application/json"})
        response = connection.getresponse()
        status, body = response.status, response.read(MAX_LISTING_BYTES)
    except ConnectionRefusedError:
        return ProbeResult(server, problem="nothing listens")
    except TimeoutError:
        return ProbeResult(server, problem=f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        return ProbeResult(server, problem=f"not an HTTP server ({type(error).__name__})")
    finally:
        connection.close()
    if status != 200:
        return ProbeResult(server, problem=f"answered HTTP {status} to {MODELS_PATH}")
    models = _listed_models(body)
    if models is None:
        return ProbeResult(server, problem=f"answered {MODELS_PATH} with something other than a model list")
    if not models:
        return ProbeResult(server, problem="lists no models")
    return ProbeResult(server, models)


def _listed_models(body: bytes) -> tuple[str, ...] | None:
    """The model ids of an OpenAI-style listing (`{"data": [{"id": ...}]}`); None when it is not one."""
    try:
        listing = json.loads(body)
    except ValueError:
        return None
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return None
    return tuple(item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)
                 and item["id"].strip())


def chat_model_of(result: ProbeResult, configured: str | None) -> str:
    """The model to talk to on a server: the configured one, else its first that is not an embedding model
    (Ollama lists `nomic-embed-text` beside chat models, and an embedding model cannot answer)."""
    if configured:
        return configured
    return next((model for model in result.models if "embed" not in model.lower()), result.models[0])
