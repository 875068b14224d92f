"""An OpenAI-compatible completion server (llama-server, vLLM, SGLang, llama_cpp.server) as
the server policy sees it: /v1/models, /v1/completions and the server's own tokenizer.

Retries: connection errors, timeouts, 429 and 5xx are retried with exponential backoff.
A server that stays down, a wrong URL (404), a refused API key (401/403) or an unknown
model raise ServerUnavailable: the command stops with one line, finished rows kept.
Any other refusal (400: a prompt past the server's context, ...) is a BackendError, which
the scheduler records as the run's `error` status.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Sequence

import httpx

from mplm_bench.backends.base import BackendError, BackendUnavailable

BACKENDS = ("llamacpp", "openai")
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ServerUnavailable(BackendUnavailable):
    """The server cannot be used at all: down, wrong URL, refused key, unknown model."""


@dataclass(frozen=True)
class ServerOptions:
    """--backend and the server options, as given on the command line (checked by
    server_check before any run starts)."""

    backend: str = "llamacpp"  # llamacpp (in-process) or openai (a server)
    base_url: str | None = None  # e.g. http://127.0.0.1:8080 or http://host:8000/v1
    api_key_env: str | None = None  # environment variable that holds the API key
    concurrency: int = 8  # completion requests in flight at once
    request_timeout: float = 600.0  # seconds per request (a queued request waits too)
    retries: int = 4  # per request, after the first try
    tokenizer: str | None = None  # local GGUF (name or path); None = the server's /tokenize

    @property
    def uses_server(self) -> bool:
        return self.backend == "openai"

    def check(self) -> None:
        """Bad combinations of options: one line each (BackendError)."""
        if self.backend not in BACKENDS:
            raise BackendError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.uses_server and not self.base_url:
            raise BackendError("--backend openai needs --base-url URL (e.g. http://127.0.0.1:8080)")
        if not self.uses_server and self.base_url:
            raise BackendError("--base-url needs --backend openai")
        if self.concurrency < 1 or self.request_timeout <= 0:
            raise BackendError("--concurrency must be at least 1 and --request-timeout positive")


@dataclass(frozen=True)
class Completion:
    """One /v1/completions reply; a count is None where the server did not give it."""

    text: str
    finish_reason: str  # "stop" (stop string or end token) or "length" (max_tokens)
    ended_by_eos: bool | None  # the end token, not a stop string; None: the server did not say
    prompt_tokens: int | None  # usage.prompt_tokens
    completion_tokens: int | None  # usage.completion_tokens
    cached_tokens: int | None  # prompt tokens reused from the server's prefix cache


def api_root(base_url: str) -> str:
    """The URL the /v1 paths hang from: "http://h:8080" and "http://h:8080/v1/" both work."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class OpenAIClient:
    def __init__(self, options: ServerOptions, backoff: float = 0.5):
        self.base_url = api_root(options.base_url or "")
        self.retries = options.retries
        self.backoff = backoff  # seconds before the first retry; doubles each time
        headers = {}
        if options.api_key_env:
            key = os.environ.get(options.api_key_env)
            if not key:
                raise ServerUnavailable(f"--api-key-env {options.api_key_env}: that "
                                        "environment variable is not set")
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=options.request_timeout,
                                  limits=httpx.Limits(max_connections=options.concurrency + 2))

    def close(self) -> None:
        self._http.close()

    def post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        where = f"{method} {self.base_url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                reply = self._http.request(method, path, json=body)
            except httpx.TransportError as error:
                if last:
                    raise ServerUnavailable(f"cannot reach the server: {where}: "
                                            f"{type(error).__name__} {error}".rstrip()) from None
            else:
                if reply.status_code not in RETRY_STATUS or last:
                    return _checked(reply, where)
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def models(self) -> list[str]:
        """The model ids the server serves (GET /v1/models)."""
        data = self._request("GET", "/v1/models").get("data")
        if not isinstance(data, list):
            raise ServerUnavailable(f"{self.base_url}/v1/models is not an OpenAI model list")
        return [str(entry.get("id")) for entry in data if isinstance(entry, dict)]

    def complete(self, body: dict) -> Completion:
        reply = self.post("/v1/completions", body)
        try:
            choice = reply["choices"][0]
            text, finish = choice["text"], choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"unexpected /v1/completions reply: {str(reply)[:200]}") from None
        usage = reply.get("usage") or {}
        completion_tokens = usage.get("completion_tokens")
        return Completion(text, finish, _ended_by_eos(choice, finish, completion_tokens),
                          usage.get("prompt_tokens"), completion_tokens, _cached_tokens(reply))


def _checked(reply: httpx.Response, where: str) -> dict:
    status = reply.status_code
    if status in (401, 403):
        raise ServerUnavailable(f"the server refused the API key ({status}) at {where}; "
                                "pass the key's environment variable with --api-key-env")
    if status == 404:
        raise ServerUnavailable(f"no OpenAI-compatible endpoint at {where} (404): "
                                "check --base-url")
    if status >= 400:
        raise BackendError(f"{where} answered {status}: {reply.text[:300]}")
    try:
        return reply.json()
    except ValueError:
        raise ServerUnavailable(f"{where} did not answer JSON: {reply.text[:80]!r}") from None


def _ended_by_eos(choice: dict, finish: str, completion_tokens: int | None) -> bool | None:
    """Whether a "stop" was the end token rather than a stop string. vLLM and SGLang say
    (stop_reason / matched_stop: the string, or None for the end token); otherwise a stop
    with no token generated can only be the end token; else the server did not say."""
    if finish != "stop":
        return False
    for key in ("stop_reason", "matched_stop"):
        if key in choice:
            return choice[key] is None or isinstance(choice[key], int)
    if completion_tokens == 0:
        return True
    return None


def _cached_tokens(reply: dict) -> int | None:
    """llama-server: timings.cache_n; vLLM (--enable-prompt-tokens-details), SGLang:
    usage.prompt_tokens_details.cached_tokens."""
    timings = reply.get("timings")
    if isinstance(timings, dict) and "cache_n" in timings:
        return timings["cache_n"]
    details = (reply.get("usage") or {}).get("prompt_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        return details["cached_tokens"]
    return None


def check_model(client: OpenAIClient, model: str | None) -> str:
    """The model to ask for: `model` if the server serves it; None picks the server's only
    model. Anything else is ServerUnavailable naming what the server has."""
    served = client.models()
    if model is None and len(served) == 1:
        return served[0]
    if model is None:
        raise ServerUnavailable(f"the server serves {len(served)} models; pick one with "
                                f"--model: {', '.join(served[:10])}")
    if model not in served:
        raise ServerUnavailable(f"the server at {client.base_url} does not serve model "
                                f"{model!r}; it serves: {', '.join(served[:10]) or 'nothing'}")
    return model


class ServerTokenizer:
    """The server's own tokenizer over HTTP: llama-server and vLLM answer POST /tokenize,
    llama_cpp.server answers POST /extras/tokenize (which adds BOS itself: dropped here).
    One body carries every dialect's field names; each server reads its own."""

    def __init__(self, client: OpenAIClient, model: str):
        self.client, self.model = client, model
        self.endpoint = "/tokenize"
        try:
            with_special = self._tokenize("", special=True)
        except ServerUnavailable:  # 404: not llama-server or vLLM
            self.endpoint = "/extras/tokenize"
            with_special = self._tokenize("", special=True)
        # the token a server puts before a string prompt, as the scheduler does for roots
        self.bos: int | None = with_special[0] if len(with_special) == 1 else None
        self.eos = -1  # not used: the server ends segments itself

    def _tokenize(self, text: str, special: bool) -> list[int]:
        reply = self.client.post(self.endpoint, {
            "content": text, "prompt": text, "input": text, "model": self.model,
            "add_special": special, "add_special_tokens": special})
        tokens = reply.get("tokens")
        if not isinstance(tokens, list):
            raise BackendError(f"{self.endpoint} gave no token list: {str(reply)[:120]}")
        return [t if isinstance(t, int) else t["id"] for t in tokens]

    def encode(self, text: str) -> list[int]:
        tokens = self._tokenize(text, special=False)
        if self.endpoint == "/extras/tokenize" and self.bos is not None and tokens[:1] == [self.bos]:
            tokens = tokens[1:]
        return tokens

    def decode(self, tokens: Sequence[int]) -> str:
        path = "/detokenize" if self.endpoint == "/tokenize" else "/extras/detokenize"
        reply = self.client.post(path, {"tokens": list(tokens), "model": self.model})
        return str(reply.get("content", reply.get("prompt", reply.get("text", ""))))

    def describe(self) -> str:
        return f"server {self.endpoint}"
