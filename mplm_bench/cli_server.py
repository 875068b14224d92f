"""The --backend options every `run <task>` command takes, defined once:

    backend: str = cli_server.BACKEND, base_url: Optional[str] = cli_server.BASE_URL, ...
    RunConfig(..., server=cli_server.server_options(backend, base_url, ...))
"""
from __future__ import annotations

import typer

from mplm_bench.backends.openai_client import ServerOptions

BACKEND = typer.Option("llamacpp", help="llamacpp (in-process) or openai (an OpenAI-compatible "
                                        "server: llama-server, vLLM, SGLang, llama_cpp.server)")
BASE_URL = typer.Option(None, help="--backend openai: the server, e.g. http://127.0.0.1:8080; "
                                   "--model is then the served model's name (default: the only one it serves)")
API_KEY_ENV = typer.Option(None, help="--backend openai: environment variable holding the API key")
CONCURRENCY = typer.Option(8, help="--backend openai: completion requests in flight at once")
REQUEST_TIMEOUT = typer.Option(600.0, help="--backend openai: seconds per request, queueing "
                                           "included (retried with backoff)")
TOKENIZER = typer.Option(None, help="--backend openai: local GGUF (name or path) of the served "
                                    "model for token counts (default: the server's /tokenize)")


def server_options(backend: str, base_url: str | None, api_key_env: str | None,
                   concurrency: int, request_timeout: float, tokenizer: str | None) -> ServerOptions:
    """As given; checked (one line, exit 2) when the run is prepared."""
    return ServerOptions(backend, base_url, api_key_env, concurrency, request_timeout,
                         tokenizer=tokenizer)
