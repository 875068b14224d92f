"""The replay policy: a perfect model's run on a real backend. Each thread's reference
program (the oracle's) chooses every token, and the model decodes it: one batched backend
step per token, messages and task lines prefilled as they arrive, forks copying KV. The
token the model samples is discarded. Wall time and tokens/s are what a model that never
errs would cost on this backend and machine. With a slot per thread the run equals the
oracle's token for token; with fewer, threads take turns and messages may land later."""
from __future__ import annotations

from mplm_bench.backends.base import Backend, cached_encoder
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.policies.oracle import Programs, ThreadProgram
from mplm_bench.runtime.thread import Thread


class ReplayPolicy(ModelPolicy):
    def __init__(self, backend: Backend, programs: dict[str, ThreadProgram]):
        super().__init__(backend)
        self._encode = cached_encoder(self.tokenizer)
        self._programs = Programs(programs)
        self._segments: dict[int, tuple[str, tuple[int, ...]]] = {}  # text and tokens, by thread id

    def begin_segment(self, thread: Thread) -> None:
        super().begin_segment(thread)
        text = self._programs.next_segment(thread)
        self._segments[thread.id] = (text, self._encode(text))

    def next_token(self, thread: Thread, sampled: int) -> int:
        return self._segments[thread.id][1][len(thread.pending)]

    def segment_text(self, thread: Thread) -> str | None:
        text, tokens = self._segments[thread.id]
        if len(thread.pending) < len(tokens):
            return None
        del self._segments[thread.id]
        return text

    def cancel(self, thread: Thread) -> None:
        self._segments.pop(thread.id, None)  # pending keeps the tokens decoded so far

    def on_fork(self, parent: Thread, child: Thread) -> None:
        super().on_fork(parent, child)
        self._programs.fork(parent, child)

    def on_end(self, thread: Thread) -> None:
        super().on_end(thread)
        self._programs.drop(thread)
        self._segments.pop(thread.id, None)
