"""Decode throughput of the runtime against a minimal raw llama.cpp batched loop."""
from __future__ import annotations

import time
from dataclasses import dataclass

from mplm_bench.backends.base import MAX_SEQUENCES, BackendConfig, SamplingConfig, Tokenizer
from mplm_bench.backends.llamacpp_load import load_tokenizer
from mplm_bench.models import resolve_model
from mplm_bench.paradigms import COT
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.runtime import protocol
from mplm_bench.runtime.records import Budgets
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import RunStatus, Thread, ThreadSpec
from mplm_bench.tasks.base import TaskInputError

# Free text a model continues: the bench threads' prompt, repeated to reach --context.
BENCH_TEXT = "Count with me: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"


@dataclass(frozen=True)
class DecodeBench:
    width: int  # threads decoded together
    context: int  # tokens of each thread's prompt before decoding starts
    runtime_tok_s: float  # tokens/s through scheduler + model policy + backend
    raw_tok_s: float  # tokens/s of a bare llama_decode loop
    ratio: float


class EndlessPolicy(ModelPolicy):
    """The model policy, except that a sampled end token or a token holding "@" becomes a
    filler token: no action line ever completes, so every thread decodes for the whole
    measurement (whatever the model) while each step still pays the policy's real work."""

    def __init__(self, backend, filler: int):
        super().__init__(backend)
        self.filler = filler
        self._banned: dict[int, bool] = {}  # token id -> would end or start an action

    def next_token(self, thread: Thread, sampled: int) -> int:
        if sampled not in self._banned:
            self._banned[sampled] = (sampled == self.tokenizer.eos
                                     or protocol.ACTION_MARK in self.tokenizer.decode([sampled]))
        return self.filler if self._banned[sampled] else sampled


def bench_prompt(tokenizer: Tokenizer, context: int) -> str:
    """BENCH_TEXT, then the count goes on until the prompt is at least `context` tokens."""
    text, count = BENCH_TEXT, 10
    while len(tokenizer.encode(text)) < context:
        text += "".join(f" {n}," for n in range(count + 1, count + 6))
        count += 5
    return text


def runtime_decode(model_path: str, width: int, n_tokens: int, prompt: str, n_threads: int,
                   n_gpu_layers: int) -> float:
    """Decode tokens/s of `width` threads through the full runtime, prefill excluded."""
    from mplm_bench.backends.llamacpp import LlamaCppBackend

    n_prompt = len(load_tokenizer(model_path).encode(prompt)) + 1
    config = BackendConfig(model_path, n_ctx=max(4096, width * (n_prompt + n_tokens + 64)),
                           n_seq_max=max(1, width), n_threads=n_threads, n_gpu_layers=n_gpu_layers)
    with LlamaCppBackend(config, SamplingConfig()) as backend:
        stamps: list[float] = []  # seconds at the end of each decode step
        specs = [ThreadSpec(f"t{i}", "bench", prompt) for i in range(width)]
        # stop after exactly n_tokens steps: the budget trips once generated > width*n_tokens - 1
        budgets = Budgets(max_tokens=width * n_tokens - 1)
        filler = backend.tokenizer.encode(" 1")[-1]
        scheduler = Scheduler(specs, COT.verbs, EndlessPolicy(backend, filler), budgets,
                              on_step=lambda _: stamps.append(time.perf_counter()))
        outcome = scheduler.run()
    if outcome.status is not RunStatus.BUDGET_EXHAUSTED or len(stamps) != n_tokens:
        raise RuntimeError(f"bench threads stopped early: {outcome.status} {outcome.detail}")
    # the first step also prefilled the prompts; time the n_tokens - 1 pure decode steps
    return width * (n_tokens - 1) / (stamps[-1] - stamps[0])


def check_widths(widths: list[int]) -> None:
    """Refuse batch widths the benchmark cannot run, before any model loads."""
    bad = [w for w in widths if not 1 <= w <= MAX_SEQUENCES]
    if bad:
        raise TaskInputError(f"--threads: batch widths must be 1 to {MAX_SEQUENCES}, "
                             f"got {', '.join(map(str, bad))}")


def bench_decode(widths: list[int], n_tokens: int, model: str | None, n_threads: int,
                 n_gpu_layers: int, repeats: int = 3, context: int = 0) -> list[DecodeBench]:
    """Best of `repeats` interleaved runs per side: on a shared CPU single runs vary by
    10-40%, and interleaving exposes both sides to the same noise. Both sides prefill the
    same prompt (at least `context` tokens) into every thread, then decode n_tokens each."""
    check_widths(widths)
    from mplm_bench.backends.llamacpp_raw import raw_batched_decode

    path = str(resolve_model(model))
    tokenizer = load_tokenizer(path)
    prompt = bench_prompt(tokenizer, context)
    prompt_tokens = ([tokenizer.bos] if tokenizer.bos is not None else []) + tokenizer.encode(prompt)
    rows = []
    for width in widths:
        raw, ours = 0.0, 0.0  # tokens/s
        for _ in range(repeats):
            raw = max(raw, raw_batched_decode(path, width, n_tokens, prompt_tokens, n_threads,
                                              n_gpu_layers))
            ours = max(ours, runtime_decode(path, width, n_tokens, prompt, n_threads, n_gpu_layers))
        rows.append(DecodeBench(width, len(prompt_tokens), ours, raw, ours / raw))
    return rows
