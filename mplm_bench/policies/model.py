"""The model policy: a real model decodes every runnable thread, one token per step, all
threads in one batched backend call."""
from __future__ import annotations

from mplm_bench.backends.base import Backend
from mplm_bench.runtime import protocol
from mplm_bench.runtime.thread import Thread


class ModelPolicy:
    def __init__(self, backend: Backend, tolerant: bool = False):
        self.backend = backend
        self.tolerant = tolerant  # a segment also ends at an action inside a line
        self.tokenizer = backend.tokenizer
        self._fed: dict[int, int] = {}  # thread id -> tokens of its context already in KV
        self._last_step: dict[int, int] = {}  # who waited longest, when threads outnumber slots
        self._step = 0

    def _batch(self, runnable: list[Thread]) -> list[Thread]:
        if len(runnable) <= self.backend.n_slots:
            return runnable
        # finish segments in progress first (their KV is resident, nothing to park), then
        # the threads that waited longest
        ordered = sorted(runnable, key=lambda t: (not t.pending, self._last_step.get(t.id, -1), t.id))
        return ordered[: self.backend.n_slots]

    def _unfed(self, thread: Thread) -> list[int]:
        """Context tokens not yet in the KV: inserted lines and the last sampled token."""
        start, committed = self._fed.get(thread.id, 0), len(thread.tokens)
        return thread.tokens[start:].tolist() + thread.pending[max(0, start - committed):]

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        batch = self._batch(runnable)
        feeds = {}
        for thread in batch:
            if thread.at_boundary:
                self.begin_segment(thread)
                thread.at_boundary = False
            feeds[thread.id] = self._unfed(thread)
        sampled = self.backend.step(feeds)
        self._step += 1
        completed = []
        for thread in batch:
            self._fed[thread.id] = thread.context_len
            self._last_step[thread.id] = self._step
            thread.pending.append(self.next_token(thread, sampled[thread.id]))
            text = self.segment_text(thread)
            if text is not None:
                completed.append((thread, text))
        return 1, completed

    # ---- what a subclass may change: which token a step commits, when a segment ends ----
    def begin_segment(self, thread: Thread) -> None:
        self.backend.reset_sampler(thread.id)  # the grammar's state back to its root

    def next_token(self, thread: Thread, sampled: int) -> int:
        return sampled

    def segment_text(self, thread: Thread) -> str | None:
        """The segment's text once it is complete (an action line or end of text), else None."""
        text = self.tokenizer.decode(thread.pending)
        if thread.pending[-1] == self.tokenizer.eos or protocol.find_action_end(text, self.tolerant) is not None:
            return text
        return None

    def cancel(self, thread: Thread) -> None:
        pass  # thread.pending already holds every token decoded

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self.backend.fork(parent.id, child.id)
        self._fed[child.id] = self._fed.get(parent.id, 0)

    def on_end(self, thread: Thread) -> None:
        self.backend.release(thread.id)
        self._fed.pop(thread.id, None)
        self._last_step.pop(thread.id, None)
