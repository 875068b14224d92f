"""The contract between the runtime's model policy and an inference backend.

A backend knows nothing of tasks or paradigms: it holds KV sequences keyed by an
integer thread id, feeds them tokens, and samples one token per sequence per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol, Sequence

MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ: sequences (threads) one context holds


class BackendError(Exception):
    """A backend could not do what was asked (bad model file, KV cache too small, ...)."""


class BackendUnavailable(BackendError):
    """The backend cannot go on at all (a server down, a refused key): the command stops
    with one line instead of recording an error row per run; rows already written stay."""


class Tokenizer(Protocol):
    bos: int | None  # token id prepended to a root thread's prompt, or None
    eos: int  # end-of-generation token id

    def encode(self, text: str, special: bool = False) -> list[int]:
        """Tokens of `text`, no special tokens added; special-token text ("<|im_start|>")
        becomes control tokens only when `special` (prompts rendered by a chat template)."""

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of `tokens` (bytes that do not form whole characters are replaced)."""


def cached_encoder(tokenizer: Tokenizer, size: int = 1 << 16) -> Callable[[str], tuple[int, ...]]:
    """tokenizer.encode behind an LRU cache: protocol lines ("@recv", a message inserted
    into many recipients) repeat thousands of times in one run."""
    return lru_cache(maxsize=size)(lambda text: tuple(tokenizer.encode(text)))


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.0  # 0 = greedy
    seed: int = 0  # per-thread seed is derived from (seed, thread id)
    top_k: int = 40
    top_p: float = 0.95
    grammar: str | None = None  # GBNF text; constrains each segment when set


def thread_seed(seed: int, thread: int) -> int:
    """Stable per-thread uint32 seed; avoids LLAMA_DEFAULT_SEED (0xFFFFFFFF = random)."""
    mixed = (seed * 1_000_003 + thread) & 0xFFFFFFFF
    return mixed if mixed != 0xFFFFFFFF else 0x9E3779B9


@dataclass(frozen=True)
class BackendConfig:
    model_path: str
    n_ctx: int = 32768  # tokens of KV cache shared by all live sequences
    n_seq_max: int = 64  # resident sequences; more threads are parked (saved) and restored
    n_batch: int = 2048  # tokens per llama_decode call (prefill is chunked to this)
    n_threads: int = 0  # 0 = all cores
    n_gpu_layers: int = 0
    main_gpu: int = 0
    flash_attn: bool | None = None  # None = llama.cpp's auto
    exact: bool = False  # f32 KV cache and flash attention off, for bit-stable tests
    # True: one KV buffer shared by all sequences (a step attends over every resident cell);
    # False: a stream per sequence of n_ctx / n_seq_max cells (a step attends over its own)
    kv_unified: bool = True
    # a prompt prefix that new threads share (a formula every SAT thread carries, a system
    # turn) is decoded once and forked into each (llama_memory_seq_cp): no prefill for it
    share_prefixes: bool = True


class Backend(Protocol):
    tokenizer: Tokenizer
    n_slots: int  # how many sequences can be decoded in one step

    def step(self, feeds: dict[int, list[int]]) -> dict[int, int]:
        """Append feeds[t] to sequence t's KV (all in one batched decode, chunked by n_batch)
        and return one sampled next token for every t in feeds. Every feed is non-empty."""

    def fork(self, parent: int, child: int) -> None:
        """Make sequence `child` a KV copy of `parent` (no prefill)."""

    def release(self, thread: int) -> None:
        """Forget sequence `thread` and free its KV."""

    def reset_sampler(self, thread: int) -> None:
        """Start a new segment: reset per-thread grammar state."""

    def stats(self) -> dict[str, float]:
        """Backend counters: parked/restored sequences, re-prefilled tokens, decode calls."""
