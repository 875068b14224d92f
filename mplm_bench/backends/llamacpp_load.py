"""Loading llama.cpp models: process-wide setup, model files, the vocab-only tokenizer, and
the parameters of a context and of a thread's sampler chain."""
from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Sequence

import llama_cpp

from mplm_bench.backends.base import BackendConfig, BackendError, SamplingConfig, thread_seed
from mplm_bench.models import ModelFileError, check_gguf

LOG_ENV = "MPLM_BENCH_LLAMA_LOG"  # =1 lets llama.cpp log to stderr
EXTRA_BUFTS_ENV = "MPLM_BENCH_EXTRA_BUFTS"  # =0/1 overrides the weight-repacking default


# --- process-wide setup -------------------------------------------------------------

@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _silent_log(level, text, user_data):  # kept in a module global: C holds the pointer
    return None


@functools.lru_cache(maxsize=None)
def _init_llama() -> None:
    """Once per process: quiet logging (unless asked) and backend init."""
    if os.environ.get(LOG_ENV) != "1":
        llama_cpp.llama_log_set(_silent_log, None)
    llama_cpp.llama_backend_init()


def _use_extra_bufts() -> bool:
    """Extra CPU buffer types repack weights (AMX, AVX2 Q4_0/Q4_K layouts). ggml's AMX
    kernels segfault on CPUs whose AMX the (VM) kernel does not really provide, and the
    AMX buffer type is picked whenever the CPU flags say amx, so default them off there.
    MPLM_BENCH_EXTRA_BUFTS=1/0 forces the choice."""
    forced = os.environ.get(EXTRA_BUFTS_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            return " amx_tile" not in handle.read()
    except OSError:
        return True


def load_model(path: str | Path, vocab_only: bool, n_gpu_layers: int = 0, main_gpu: int = 0):
    """A llama_model pointer, or BackendError with one line naming the file."""
    path = Path(path)
    try:
        check_gguf(path)
    except ModelFileError as exc:
        raise BackendError(str(exc)) from None
    _init_llama()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = vocab_only
    params.n_gpu_layers = n_gpu_layers
    params.main_gpu = main_gpu
    params.use_extra_bufts = _use_extra_bufts()
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise BackendError(f"llama.cpp could not load model file: {path}")
    return model


# --- tokenizer ----------------------------------------------------------------------

class LlamaTokenizer:
    """Encode/decode with a vocab-only model load (no weights, fast to open)."""

    def __init__(self, path: str | Path):
        self._model = load_model(path, vocab_only=True)  # lives as long as the cache entry
        self.vocab = llama_cpp.llama_model_get_vocab(self._model)
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        add_bos = llama_cpp.llama_vocab_get_add_bos(self.vocab)
        self.bos: int | None = int(bos) if add_bos and bos >= 0 else None
        self.eos: int = int(llama_cpp.llama_vocab_eos(self.vocab))
        self.n_vocab: int = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        # for prompt formatting: the GGUF's chat template (None if it has none) and the
        # text of its BOS/EOS tokens, which templates refer to
        self.chat_template: str | None = self._meta("tokenizer.chat_template")
        self.bos_text = self._token_text(llama_cpp.llama_vocab_bos(self.vocab))
        self.eos_text = self._token_text(self.eos)

    def _meta(self, key: str) -> str | None:
        size = 1 << 16  # bytes; templates run to a few KB
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            got = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, size)
            if got < 0:
                return None
            if got < size:
                return buf.value.decode("utf-8", errors="replace")
            size = got + 1
        return None

    def _token_text(self, token: int) -> str:
        text = llama_cpp.llama_vocab_get_text(self.vocab, token) if token >= 0 else None
        return text.decode("utf-8", errors="replace") if text else ""

    def encode(self, text: str, special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8  # BPE never yields more tokens than bytes (+ slack)
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        if n < 0:  # buffer too small: -n is the needed size
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        if n < 0:
            raise BackendError(f"tokenization failed ({n}) for text of {len(data)} bytes")
        return list(buf[:n])

    def decode(self, tokens: Sequence[int]) -> str:
        """Special (control) tokens render as empty text."""
        n = len(tokens)
        if n == 0:
            return ""
        arr = (llama_cpp.llama_token * n)(*tokens)
        cap = 16 * n + 16  # bytes; retried with the exact size if short
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            got = llama_cpp.llama_detokenize(self.vocab, arr, n, buf, cap, False, False)
            if got >= 0:
                return buf.raw[:got].decode("utf-8", errors="replace")
            cap = -got
        raise BackendError(f"detokenization failed for {n} tokens")


@functools.lru_cache(maxsize=8)
def load_tokenizer(path: str | Path) -> LlamaTokenizer:
    """Cached per path: the oracle policy tokenizes a lot."""
    return LlamaTokenizer(path)


# --- contexts and samplers ------------------------------------------------------------

def context_params(config: BackendConfig):
    """One context, n_seq_max slots; unified KV (sequences share n_ctx cells) or a stream
    per slot."""
    p = llama_cpp.llama_context_default_params()
    p.n_ctx = config.n_ctx
    p.n_batch = config.n_batch
    p.n_ubatch = min(config.n_batch, 512)  # compute buffer grows with n_ubatch x n_vocab
    p.n_seq_max = config.n_seq_max
    threads = config.n_threads or os.cpu_count() or 1
    p.n_threads = p.n_threads_batch = threads
    p.kv_unified = config.kv_unified
    p.no_perf = True
    if config.flash_attn is None:
        fa = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
    elif config.flash_attn:
        fa = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    else:
        fa = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    if config.exact:  # f32 KV, plain attention: the same calls give the same tokens
        p.type_k = p.type_v = llama_cpp.GGML_TYPE_F32
        fa = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    p.flash_attn_type = fa
    return p


def new_sampler(vocab, sampling: SamplingConfig, thread: int):
    """A thread's sampler chain: the grammar first (it masks what it forbids), then greedy or
    top-k, top-p, temperature and a draw seeded per thread."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = functools.partial(llama_cpp.llama_sampler_chain_add, chain)
    if sampling.grammar:
        grammar = llama_cpp.llama_sampler_init_grammar(vocab, sampling.grammar.encode(), b"root")
        if not grammar:
            llama_cpp.llama_sampler_free(chain)
            raise BackendError("invalid GBNF grammar (llama.cpp could not parse it)")
        add(grammar)
    if sampling.temperature <= 0:
        add(llama_cpp.llama_sampler_init_greedy())
    else:
        add(llama_cpp.llama_sampler_init_top_k(sampling.top_k))
        add(llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
        add(llama_cpp.llama_sampler_init_temp(sampling.temperature))
        add(llama_cpp.llama_sampler_init_dist(thread_seed(sampling.seed, thread)))
    return chain
