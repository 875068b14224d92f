"""The options every `run <task>` command shares, defined once.

`@with_run_options` adds them to a command's signature (after its own task options) and
hands them to the command as one `options: RunOptions` argument.
"""
from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

MODEL_HELP = "known model name (see `mplm-bench models`) or path to a GGUF file"

# name -> (type, typer option); their order is the --help order
_OPTIONS: dict[str, tuple[object, object]] = {
    "paradigms": (str, typer.Option("mplm,cot,fj", help="comma-separated: mplm, cot, fj")),
    "policy": (str, typer.Option("model", help="model (decode with the model), oracle (the "
                                               "reference programs, no model) or replay (the "
                                               "reference programs decoded by the model: a "
                                               "perfect model's wall time)")),
    "model": (Optional[str], typer.Option(None, help=MODEL_HELP)),
    "instances": (int, typer.Option(1, help="instances to run (with a puzzle or formula "
                                            "file: its first K)")),
    "seed": (int, typer.Option(0, min=0, help="first generator seed; instance k uses seed + k")),
    "out": (Optional[Path], typer.Option(None, help="results folder (default: results/<run-id>)")),
    "resume": (bool, typer.Option(False, help="skip instance x paradigm rows already in --out")),
    "max_tokens": (int, typer.Option(0, min=0, help="budget: generated tokens per run, all threads "
                                             "[0: 2048 for the model policy, 2M for the oracle]")),
    "window": (int, typer.Option(0, min=0, help="per-thread context limit in tokens [0: 8192 for the "
                                         "model policy, 1M for the oracle]")),
    "max_threads": (int, typer.Option(20000, min=1, help="budget: threads per run")),
    "max_live_kv": (int, typer.Option(0, min=0, help="budget: tokens in KV over all live threads, "
                                              "parked ones included [0: the model's default; "
                                              "none for most]")),
    "timeout": (float, typer.Option(600.0, min=0.0, help="budget: seconds per run")),
    "temperature": (float, typer.Option(0.0, min=0.0,
                                        help="0 = greedy; else seeded sampling")),
    "grammar": (bool, typer.Option(False, help="constrain the protocol syntax with GBNF")),
    "tolerant": (Optional[bool], typer.Option(None, "--tolerant/--strict", help="read actions "
                                              "as prompted models write them (prose or markdown "
                                              "around them, no closing newline), counting "
                                              "repairs [default: tolerant for longqa, strict "
                                              "for sudoku and sat]")),
    "trace": (bool, typer.Option(False, help="write per-thread events to DIR/traces/")),
    "ctx": (int, typer.Option(0, min=0, help="KV cache tokens, all threads [0: the model's "
                                             "default, 32768]")),
    "seq_max": (int, typer.Option(0, min=0, help="threads resident in the KV cache at once [0: the "
                                          "model's default, 16] (raise it on a GPU; on a CPU "
                                          "every step attends over all resident threads' cells)")),
    "kv_unified": (Optional[bool], typer.Option(None, "--kv-unified/--kv-split",
                                                help="one KV buffer for all threads, or a stream "
                                                     "per thread [default: the model's, unified]")),
    "share_prefixes": (Optional[bool], typer.Option(None, "--share-prefixes/--no-share-prefixes",
                                                    help="decode a prompt prefix that new threads "
                                                         "share once and fork it into each "
                                                         "[default: share]")),
    "threads": (int, typer.Option(0, min=0, help="CPU threads for llama.cpp [0: all cores]")),
    "n_gpu_layers": (int, typer.Option(0, help="layers offloaded to the GPU (CUDA/Metal builds)")),
    "main_gpu": (int, typer.Option(0, min=0, help="GPU index for the model")),
    "flash_attn": (Optional[bool], typer.Option(None, "--flash-attn/--no-flash-attn",
                                                help="flash attention (default: llama.cpp auto)")),
    "backend": (str, typer.Option("llamacpp", help="llamacpp (in-process) or openai (an "
                                  "OpenAI-compatible server: llama-server, vLLM, SGLang, "
                                  "llama_cpp.server)")),
    "base_url": (Optional[str], typer.Option(None, help="--backend openai: the server, e.g. "
                                             "http://127.0.0.1:8080; --model is then the served "
                                             "model's name (default: the only one it serves)")),
    "api_key_env": (Optional[str], typer.Option(None, help="--backend openai: environment "
                                                "variable holding the API key")),
    "concurrency": (int, typer.Option(8, help="--backend openai: completion requests in flight "
                                      "at once")),
    "request_timeout": (float, typer.Option(600.0, help="--backend openai: seconds per request, "
                                            "queueing included (retried with backoff)")),
    "tokenizer": (Optional[str], typer.Option(None, help="--backend openai: local GGUF (name or "
                                              "path) of the served model for token counts "
                                              "(default: the server's /tokenize)")),
}


@dataclass(frozen=True)
class RunOptions:
    paradigms: str
    policy: str
    model: Optional[str]
    instances: int
    seed: int
    out: Optional[Path]
    resume: bool
    max_tokens: int
    window: int
    max_threads: int
    max_live_kv: int
    timeout: float
    temperature: float
    grammar: bool
    tolerant: Optional[bool]  # None: the task's default
    trace: bool
    ctx: int
    seq_max: int
    kv_unified: Optional[bool]
    share_prefixes: Optional[bool]
    threads: int
    n_gpu_layers: int
    main_gpu: int
    flash_attn: Optional[bool]
    backend: str
    base_url: Optional[str]
    api_key_env: Optional[str]
    concurrency: int
    request_timeout: float
    tokenizer: Optional[str]

    def config(self, task: str, size: int, task_options: dict, tolerant_default: bool = False):
        from mplm_bench import console
        from mplm_bench.backends.openai_client import ServerOptions
        from mplm_bench.models import run_defaults
        from mplm_bench.runner import RunConfig, policy_budgets

        return RunConfig(
            task=task, size=size, paradigms=self.paradigms.split(","), policy=self.policy,
            model=self.model, instances=self.instances, seed=self.seed,
            out=str(self.out or console.default_out(task)), resume=self.resume,
            budgets=policy_budgets(self.policy, self.max_tokens, self.window, self.max_threads,
                                   self.timeout, run_defaults(self.model, task), self.max_live_kv),
            temperature=self.temperature, grammar=self.grammar, trace=self.trace,
            tolerant=tolerant_default if self.tolerant is None else self.tolerant,
            task_options=task_options,
            backend=_user_set(n_ctx=self.ctx, n_seq_max=self.seq_max, kv_unified=self.kv_unified,
                              share_prefixes=self.share_prefixes, n_threads=self.threads,
                              n_gpu_layers=self.n_gpu_layers, main_gpu=self.main_gpu,
                              flash_attn=self.flash_attn),
            # checked (one line, exit 2) when the run is prepared
            server=ServerOptions(self.backend, self.base_url, self.api_key_env, self.concurrency,
                                 self.request_timeout, tokenizer=self.tokenizer))


def _user_set(**options) -> dict:
    """Backend options the user set: 0 and None leave the model's default (n_threads 0 means
    all cores, BackendConfig's default too; n_gpu_layers and main_gpu 0 are real values)."""
    return {key: value for key, value in options.items()
            if value is not None and (value != 0 or key in ("n_gpu_layers", "main_gpu"))}


def with_run_options(command):
    """Typer reads the returned function's signature: the command's own options, then the
    shared ones; the command is called with the shared ones packed as `options`."""
    hints = typing.get_type_hints(command)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in inspect.signature(command).parameters.values() if p.name != "options"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                annotation=kind) for name, (kind, option) in _OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        options = RunOptions(**{name: kwargs.pop(name) for name in _OPTIONS})
        return command(options=options, **kwargs)

    wrapper.__signature__ = inspect.Signature(own + shared)
    wrapper.__annotations__ = {**{p.name: hints.get(p.name, p.annotation) for p in own},
                               **{name: kind for name, (kind, _) in _OPTIONS.items()}}
    return wrapper
