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
        self._ends_line: dict[int, bool] = {}  # token id -> its text holds a newline
        self._newline_at: dict[int, int] = {}  # thread id -> last newline token of its segment

    def _unfed(self, thread: Thread) -> list[int]:
        """Context tokens not yet in the KV: inserted lines and the last sampled token."""
        start, committed = self._fed.get(thread.id, 0), len(thread.tokens)
        return thread.tokens[start:].tolist() + thread.pending[max(0, start - committed):]

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        """Every runnable thread advances one token (lockstep: the backend decodes more
        threads than it has slots in turns within the step), so a run's tokens, messages
        and critical path do not depend on how many sequences the backend holds."""
        feeds = {}
        for thread in runnable:
            if thread.at_boundary:
                self.begin_segment(thread)
                thread.at_boundary = False
            feeds[thread.id] = self._unfed(thread)
        sampled = self.backend.step(feeds)
        completed = []
        for thread in runnable:
            self._fed[thread.id] = thread.context_len
            thread.pending.append(self.next_token(thread, sampled[thread.id]))
            text = self.segment_text(thread)
            if text is not None:
                completed.append((thread, text))
        return 1, completed

    # ---- what a subclass may change: which token a step commits, when a segment ends ----
    def begin_segment(self, thread: Thread) -> None:
        self.backend.reset_sampler(thread.id)  # the grammar's state back to its root
        self._newline_at.pop(thread.id, None)

    def next_token(self, thread: Thread, sampled: int) -> int:
        return sampled

    def segment_text(self, thread: Thread) -> str | None:
        """The segment's text once it is complete (an action line or end of text), else None.
        A line completes only with a token that holds a newline, and lines before the
        previous such token were read then: a step decodes the last lines only, so the
        per-token cost stays flat as a segment grows."""
        pending, last = thread.pending, thread.pending[-1]
        if last == self.tokenizer.eos:
            return self.tokenizer.decode(pending)
        if not self._holds_newline(last):
            return None
        previous = self._newline_at.get(thread.id)  # index in pending of that token
        self._newline_at[thread.id] = len(pending) - 1
        if previous is None:
            lines = self.tokenizer.decode(pending)
        else:  # from the previous newline token's first newline: what it began is unread
            tail = self.tokenizer.decode(pending[previous:])
            lines = tail[tail.find(protocol.LINE_END) + 1:]
        if protocol.find_action_end(lines, self.tolerant) is None:
            return None
        return self.tokenizer.decode(pending)

    def _holds_newline(self, token: int) -> bool:
        if token not in self._ends_line:
            self._ends_line[token] = protocol.LINE_END in self.tokenizer.decode([token])
        return self._ends_line[token]

    def cancel(self, thread: Thread) -> None:
        pass  # thread.pending already holds every token decoded

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self.backend.fork(parent.id, child.id)
        self._fed[child.id] = self._fed.get(parent.id, 0)

    def on_end(self, thread: Thread) -> None:
        self.backend.release(thread.id)
        self._fed.pop(thread.id, None)
        self._newline_at.pop(thread.id, None)
