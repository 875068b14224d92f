"""A minimal batched decode loop straight on llama.cpp's low-level API: the baseline
that `mplm-bench bench decode` compares the runtime against."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import llama_cpp
import numpy as np

from mplm_bench.backends.base import BackendError
from mplm_bench.backends.llamacpp_load import load_model


# --- reference loop -----------------------------------------------------------------

def raw_batched_decode(model_path: str | Path, width: int, n_tokens: int,
                       prompt_tokens: Sequence[int], n_threads: int, n_gpu_layers: int = 0) -> float:
    """Baseline decode throughput in tokens/s: the same prompt prefilled into `width`
    sequences, then n_tokens steps of one llama_decode with one token per sequence and greedy
    numpy argmax. Times the decode loop only. Nothing but the low-level API."""
    n_prompt = len(prompt_tokens)
    model = load_model(model_path, vocab_only=False, n_gpu_layers=n_gpu_layers)
    p = llama_cpp.llama_context_default_params()
    p.n_ctx = width * (n_prompt + n_tokens + 1) + 256
    p.n_batch = max(n_prompt, width)
    p.n_ubatch = min(p.n_batch, 512)
    p.n_seq_max = width
    p.n_threads = p.n_threads_batch = n_threads or os.cpu_count() or 1
    p.kv_unified = True
    p.no_perf = True
    ctx = llama_cpp.llama_init_from_model(model, p)
    if not ctx:
        llama_cpp.llama_model_free(model)
        raise BackendError(f"raw_batched_decode: no context for width {width}")
    batch = llama_cpp.llama_batch_init(p.n_batch, 0, 1)
    try:
        n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
        tok = np.ctypeslib.as_array(batch.token, shape=(p.n_batch,))
        pos = np.ctypeslib.as_array(batch.pos, shape=(p.n_batch,))
        out = np.ctypeslib.as_array(batch.logits, shape=(p.n_batch,))
        np.ctypeslib.as_array(batch.n_seq_id, shape=(p.n_batch,))[:] = 1
        # prefill every sequence with its own copy of the prompt, as the runtime does for
        # independent threads (a shared, seq_cp'd prompt would leave fewer KV cells to attend)
        for s in range(width):
            tok[:n_prompt], pos[:n_prompt], out[:n_prompt] = prompt_tokens, np.arange(n_prompt), 0
            out[n_prompt - 1] = 1
            for i in range(n_prompt):
                batch.seq_id[i][0] = s
            batch.n_tokens = n_prompt
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise BackendError("raw_batched_decode: prefill failed")
        last = llama_cpp.llama_get_logits_ith(ctx, n_prompt - 1)
        row = np.ctypeslib.as_array(last, shape=(n_vocab,))
        nxt = np.full(width, int(row.argmax()), dtype=np.int32)
        # decode layout: token i belongs to sequence i, all with logits
        for i in range(width):
            batch.seq_id[i][0] = i
        out[:width] = 1
        batch.n_tokens = width
        start = time.perf_counter()
        for step in range(n_tokens):
            tok[:width] = nxt
            pos[:width] = n_prompt + step
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise BackendError(f"raw_batched_decode: decode failed at step {step}")
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(ctx), shape=(width, n_vocab))
            nxt = logits.argmax(axis=1).astype(np.int32)
        seconds = time.perf_counter() - start
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
    return width * n_tokens / seconds
