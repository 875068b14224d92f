"""Multi-sequence batched backend on llama-cpp-python's low-level C API.

One llama_context with a unified KV cache holds up to n_seq_max sequences ("slots").
Threads (ids >= 0) map to slots; when slots or KV cells run out, the least
recently used thread not being fed is parked (its KV saved to host bytes) and is
restored on demand. Forks share KV cells (llama_memory_seq_cp), so no prefill.

Prompt prefixes are shared the same way: when two new threads' first feeds begin with the
same tokens (a formula every SAT thread carries, a system turn), that prefix is decoded
once into a sequence of its own, and every later thread whose prompt starts with it
begins as a fork of that sequence. Thread ids are >= 0; prefix sequences take negative ids.
"""
from __future__ import annotations

import ctypes
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import llama_cpp
import numpy as np

from mplm_bench.backends.base import (MAX_SEQUENCES, BackendConfig, BackendError,
                                      SamplingConfig)
from mplm_bench.backends.llamacpp_load import context_params, load_model, load_tokenizer, new_sampler

_KV_MARGIN = 16  # cells (tokens) kept free when budgeting a step, for cache padding slack
_SHARED_MIN = 32  # tokens: a shorter common prompt prefix is not worth a sequence of its own
_PREFIXES = 8  # prompt prefixes held at once (least recently used dropped first)
_RECENT = 8  # first feeds kept to find a common prefix in


# --- KV cell accounting -------------------------------------------------------------

@dataclass(eq=False)
class _Seg:
    """A run of KV cells shared by every resident thread whose history contains it."""
    length: int = 0  # cells (tokens)
    refs: int = 0  # resident threads holding it


@dataclass(eq=False)
class _Thread:
    slot: int | None = None  # llama seq id while resident
    n_past: int = 0  # tokens in its KV (positions 0..n_past-1)
    segs: list[_Seg] = field(default_factory=list)  # cell runs (resident only)
    parked: bytes | None = None  # saved llama_state_seq data while parked
    sampler: object | None = None  # llama_sampler chain, lazily created


# --- the backend --------------------------------------------------------------------

class LlamaCppBackend:
    """Backend protocol on one llama_context; see the module docstring."""

    def __init__(self, config: BackendConfig, sampling: SamplingConfig):
        if not 1 <= config.n_seq_max <= MAX_SEQUENCES:
            raise BackendError(f"n_seq_max must be 1..{MAX_SEQUENCES}, got {config.n_seq_max}")
        self.config, self.sampling = config, sampling
        self.n_slots = config.n_seq_max
        self._model = self._ctx = self._batch = None
        self._threads: dict[int, _Thread] = {}
        self._lru: OrderedDict[int, None] = OrderedDict()  # resident threads, oldest first
        self._free_slots = list(range(self.n_slots - 1, -1, -1))  # pop() gives slot 0 first
        self._cells = 0  # KV cells in use (shared runs counted once)
        self._stats = dict(decode_calls=0, parked=0, restored=0, tokens_decoded=0,
                           prefix_tokens_shared=0)
        self._prefixes: OrderedDict[int, tuple[int, ...]] = OrderedDict()  # seq -> tokens
        self._recent: deque[np.ndarray] = deque(maxlen=_RECENT)  # first feeds no prefix matched
        self.tokenizer = load_tokenizer(str(config.model_path))
        self._model = load_model(config.model_path, False, config.n_gpu_layers, config.main_gpu)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        # greedy without grammar needs no sampler state: argmax straight from the logits
        self._plain_greedy = sampling.temperature <= 0 and not sampling.grammar
        self._ctx = llama_cpp.llama_init_from_model(self._model, context_params(config))
        if not self._ctx:
            self.close()
            raise BackendError(f"llama.cpp could not create a context (n_ctx={config.n_ctx})")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._capacity = int(llama_cpp.llama_n_ctx(self._ctx))  # KV cells
        self._n_batch = int(llama_cpp.llama_n_batch(self._ctx))  # tokens per llama_decode
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        # numpy views on the batch arrays: vectorised fills for token, pos, logits flags
        n = self._n_batch
        self._tok = np.ctypeslib.as_array(self._batch.token, shape=(n,))
        self._pos = np.ctypeslib.as_array(self._batch.pos, shape=(n,))
        self._out = np.ctypeslib.as_array(self._batch.logits, shape=(n,))
        np.ctypeslib.as_array(self._batch.n_seq_id, shape=(n,))[:] = 1
        self._seq_row = [self._batch.seq_id[i] for i in range(n)]  # int32* per token

    # -- public API ------------------------------------------------------------------

    def step(self, feeds: dict[int, list[int]]) -> dict[int, int]:
        """One logical batched decode: append feeds, sample one token per thread. More
        threads than slots decode in groups of n_slots, one llama_decode each (chunked by
        n_batch), resident threads first so that only the rest are restored."""
        if not feeds:
            return {}
        if any(len(toks) == 0 for toks in feeds.values()):
            raise ValueError("every feed must hold at least one token")
        self._check_open()
        order = list(feeds)  # a batch's order changes llama.cpp's numerics: keep the caller's
        if len(order) > self.n_slots:
            order.sort(key=lambda t: t not in self._threads or self._threads[t].slot is None)
        out: dict[int, int] = {}
        for start in range(0, len(order), self.n_slots):
            group = {thread: feeds[thread] for thread in order[start:start + self.n_slots]}
            if self.config.share_prefixes:
                group = {thread: self._skip_shared_prefix(thread, toks)
                         for thread, toks in group.items()}
            self._feed(group, out, sample=True)
        return out

    def fork(self, parent: int, child: int) -> None:
        """Child shares the parent's KV cells (seq_cp); no tokens are decoded."""
        self._check_open()
        if parent == child:
            return
        if parent not in self._threads:
            raise BackendError(f"fork from unknown thread {parent}")
        self.release(child)  # a reused id starts from the parent, not its old state
        protect = {parent, child}
        pth = self._make_resident(parent, protect)
        cth = self._threads[child] = _Thread(n_past=pth.n_past)
        if not self._free_slots and not self._park_lru(protect):
            # one slot in all: the child starts parked with a copy of the parent's KV
            cth.parked = self._save(pth) if pth.n_past else None
            return
        cth.slot = self._free_slots.pop()
        self._lru[child] = None
        llama_cpp.llama_memory_seq_rm(self._mem, cth.slot, -1, -1)
        llama_cpp.llama_memory_seq_cp(self._mem, pth.slot, cth.slot, -1, -1)
        cth.segs = list(pth.segs)
        for seg in cth.segs:
            seg.refs += 1

    def release(self, thread: int) -> None:
        """Forget the thread: free its slot (or parked bytes) and its sampler."""
        th = self._threads.pop(thread, None)
        if th is None:
            return
        if th.slot is not None and self._ctx:
            self._evict(thread, th)
        if th.sampler is not None:
            llama_cpp.llama_sampler_free(th.sampler)
            th.sampler = None

    def reset_sampler(self, thread: int) -> None:
        th = self._threads.get(thread)
        if th is not None and th.sampler is not None:
            llama_cpp.llama_sampler_reset(th.sampler)  # grammar back to its root rule

    def stats(self) -> dict[str, float]:
        return dict(self._stats, resident=len(self._lru), threads=len(self._threads),
                    kv_cells=self._cells, kv_capacity=self._capacity)

    def close(self) -> None:
        """Free samplers, batch, context and model (idempotent)."""
        for th in self._threads.values():
            if th.sampler is not None:
                llama_cpp.llama_sampler_free(th.sampler)
                th.sampler = None
        self._threads.clear()
        self._lru.clear()
        self._prefixes.clear()
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
        if self._model:
            llama_cpp.llama_model_free(self._model)
        self._ctx = self._model = None

    def __enter__(self) -> "LlamaCppBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may already be gone
            pass

    # -- decoding ----------------------------------------------------------------------

    def _feed(self, feeds: dict[int, list[int]], out: dict[int, int], sample: bool) -> None:
        """Decode the feeds in chunks of n_batch; when `sample`, sample one token per thread
        after its last token into `out`."""
        protect = set(feeds)
        for thread in feeds:
            self._make_resident(thread, protect)
        self._reserve_cells(sum(len(toks) for toks in feeds.values()), protect)
        if not self.config.kv_unified:
            # with a KV stream per slot, llama.cpp puts only a run of consecutive seq ids in
            # one ubatch (a graph compute each): in slot order, a full step is one ubatch
            feeds = dict(sorted(feeds.items(), key=lambda item: self._threads[item[0]].slot))
        chunk: list[tuple[int, list[int], bool]] = []  # (thread, tokens, sample after them)
        room = self._n_batch
        for thread, toks in feeds.items():
            i = 0
            while i < len(toks):  # a long feed spans chunks, in order
                take = min(room, len(toks) - i)
                chunk.append((thread, toks[i:i + take], sample and i + take == len(toks)))
                i += take
                room -= take
                if room == 0:
                    self._run_chunk(chunk, out, protect)
                    chunk, room = [], self._n_batch
        if chunk:
            self._run_chunk(chunk, out, protect)

    def _run_chunk(self, chunk, out: dict[int, int], protect: set[int]) -> None:
        """Fill the batch with ≤ n_batch tokens, decode (parking on KV-full), then sample
        each thread whose last token is here: llama_sampler_sample's idx is relative to
        this llama_decode call."""
        n, finals = 0, []
        for thread, toks, last in chunk:
            th = self._threads[thread]
            k = len(toks)
            self._tok[n:n + k] = toks
            self._pos[n:n + k] = np.arange(th.n_past, th.n_past + k)
            self._out[n:n + k] = 0
            for row in self._seq_row[n:n + k]:
                row[0] = th.slot
            n += k
            if last:
                self._out[n - 1] = 1  # logits only where we sample
                finals.append((thread, n - 1))
        self._batch.n_tokens = n
        self._decode(n, protect)
        for thread, toks, _ in chunk:
            self._extend(self._threads[thread], len(toks))
        if not finals:
            return
        if self._plain_greedy:
            # same pick as the greedy sampler (first max) at ~1/10 of its cost per thread:
            # one numpy argmax over the output rows, which come in batch order
            rows = np.ctypeslib.as_array(llama_cpp.llama_get_logits(self._ctx),
                                         shape=(len(finals), self._n_vocab))
            for (thread, _), token in zip(finals, rows.argmax(axis=1).tolist()):
                out[thread] = token
            return
        for thread, idx in finals:
            out[thread] = int(llama_cpp.llama_sampler_sample(self._sampler(thread), self._ctx, idx))

    def _decode(self, n: int, protect: set[int]) -> None:
        """llama_decode; on 1 (no KV slot; nothing was written) park an LRU thread, retry."""
        while True:
            rc = llama_cpp.llama_decode(self._ctx, self._batch)
            if rc == 0:
                self._stats["decode_calls"] += 1
                self._stats["tokens_decoded"] += n
                return
            if rc == 1 and self._park_lru(protect):
                continue
            if rc == 1:
                raise BackendError(
                    f"KV cache too small: raise --ctx (n_ctx={self._capacity} cells, "
                    f"{len(protect)} threads need {self._cells + n})")
            raise BackendError(f"llama_decode failed with code {rc} on a batch of {n} tokens")

    def _sampler(self, thread: int):
        """The thread's sampler chain, built on first use."""
        th = self._threads[thread]
        if th.sampler is None:
            th.sampler = new_sampler(self._vocab, self.sampling, thread)
        return th.sampler

    # -- shared prompt prefixes ---------------------------------------------------------

    def _skip_shared_prefix(self, thread: int, toks: list[int]) -> list[int]:
        """A new thread whose first feed starts with a held prompt prefix begins as a fork
        of that prefix's sequence; one that shares at least _SHARED_MIN leading tokens with
        a recent first feed makes them a held prefix first. Returns the tokens still to
        decode (at least one)."""
        if thread in self._threads or len(toks) <= _SHARED_MIN:
            return toks
        seq = max((h for h, prefix in self._prefixes.items()
                   if len(prefix) < len(toks) and tuple(toks[:len(prefix)]) == prefix),
                  key=lambda h: len(self._prefixes[h]), default=None)
        if seq is None:
            tokens = np.asarray(toks)
            shared = max((_common_length(tokens, seen) for seen in self._recent), default=0)
            self._recent.append(tokens)
            shared = min(shared, len(toks) - 1)
            if shared < _SHARED_MIN:
                return toks
            seq = self._new_prefix(toks[:shared])
        self._prefixes.move_to_end(seq)
        shared = len(self._prefixes[seq])
        self.fork(seq, thread)
        self._stats["prefix_tokens_shared"] += shared
        return toks[shared:]

    def _new_prefix(self, prefix: list[int]) -> int:
        """Decode `prefix` into a new sequence (negative id, no sampling) and hold it; past
        _PREFIXES, the least recently used prefix is dropped."""
        if len(self._prefixes) >= _PREFIXES:
            oldest, _ = self._prefixes.popitem(last=False)
            self.release(oldest)
        seq = min(self._prefixes, default=0) - 1
        self._prefixes[seq] = tuple(prefix)
        self._feed({seq: list(prefix)}, {}, sample=False)
        return seq

    # -- slots, parking, KV accounting ----------------------------------------------------

    def _make_resident(self, thread: int, protect: set[int]) -> _Thread:
        """Give the thread a slot (new threads start empty; parked ones are restored)."""
        th = self._threads.get(thread)
        if th is None:
            th = self._threads[thread] = _Thread()
        if th.slot is not None:
            self._lru.move_to_end(thread)
            return th
        if not self._free_slots and not self._park_lru(protect):
            raise BackendError("no free sequence slot: every resident thread is in use")
        th.slot = self._free_slots.pop()
        self._lru[thread] = None
        llama_cpp.llama_memory_seq_rm(self._mem, th.slot, -1, -1)
        if th.parked is not None:
            self._restore(th, protect)
        return th

    def _reserve_cells(self, need: int, protect: set[int]) -> None:
        """Park LRU threads until `need` more cells fit (llama_decode's answer is final)."""
        while self._cells + need > self._capacity - _KV_MARGIN and self._park_lru(protect):
            pass

    def _park_lru(self, protect: set[int]) -> bool:
        """Park the least recently used resident thread not in `protect`; False if none."""
        for thread in self._lru:
            if thread not in protect:
                th = self._threads[thread]
                th.parked = self._save(th) if th.n_past else None
                self._evict(thread, th)
                self._stats["parked"] += 1
                return True
        return False

    def _save(self, th: _Thread) -> bytes:
        """The slot's KV (cells, positions, K/V data) as host bytes."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, th.slot)
        buf = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, th.slot)
        if got == 0:
            raise BackendError(f"could not save the KV of sequence slot {th.slot}")
        return ctypes.string_at(buf, got)

    def _restore(self, th: _Thread, protect: set[int]) -> None:
        """Load parked bytes into the thread's (empty) slot, parking others for room."""
        data = th.parked
        self._reserve_cells(th.n_past, protect)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        while llama_cpp.llama_state_seq_set_data(self._ctx, buf, len(data), th.slot) == 0:
            if not self._park_lru(protect):
                raise BackendError(
                    f"KV cache too small: raise --ctx (cannot restore {th.n_past} tokens)")
        th.parked = None
        th.segs = [_Seg(th.n_past, 1)]  # restored cells are its own, no longer shared
        self._cells += th.n_past
        self._stats["restored"] += 1

    def _evict(self, thread: int, th: _Thread) -> None:
        """Drop the thread's KV from its slot and free the slot."""
        llama_cpp.llama_memory_seq_rm(self._mem, th.slot, -1, -1)
        for seg in th.segs:
            seg.refs -= 1
            if seg.refs == 0:  # last holder gone: llama.cpp frees those cells
                self._cells -= seg.length
        th.segs = []
        self._free_slots.append(th.slot)
        th.slot = None
        del self._lru[thread]

    def _extend(self, th: _Thread, k: int) -> None:
        """Account k new cells of the thread (a run it holds alone grows in place)."""
        th.n_past += k
        self._cells += k
        if th.segs and th.segs[-1].refs == 1:
            th.segs[-1].length += k
        else:
            th.segs.append(_Seg(k, 1))

    def _check_open(self) -> None:
        if not self._ctx:
            raise BackendError("backend is closed")


def _common_length(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading tokens two token arrays share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n
