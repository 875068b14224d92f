"""The oracle policy: each thread runs the task's reference program, what a perfect model
would write. Its text is tokenized with the chosen model's tokenizer, so costs are real
tokens, and the clock advances as if each segment were decoded one token per step."""
from __future__ import annotations

from typing import Protocol

from mplm_bench.backends.base import Tokenizer, cached_encoder
from mplm_bench.policies.pacing import SegmentPacer
from mplm_bench.runtime.thread import Message, Thread


class ThreadProgram(Protocol):
    """A thread's reference program. It sees only what the thread's context holds: its
    prompt (given when the program is made) and the lines inserted since its last segment."""

    def next_segment(self, news: list[Message]) -> str:
        """The next segment's text: free lines, then one action line."""

    def fork(self) -> "ThreadProgram":
        """A copy for a forked child; the child's task arrives as its first news."""


class Programs:
    """Each live thread's reference program: roots by name, forked children by copy."""

    def __init__(self, roots: dict[str, ThreadProgram]):
        self._roots = roots
        self._by_id: dict[int, ThreadProgram] = {}

    def _of(self, thread: Thread) -> ThreadProgram:
        if thread.id not in self._by_id:
            self._by_id[thread.id] = self._roots[thread.name]
        return self._by_id[thread.id]

    def next_segment(self, thread: Thread) -> str:
        """The thread's next segment, from what was inserted since its last one."""
        return self._of(thread).next_segment(list(thread.news))

    def fork(self, parent: Thread, child: Thread) -> None:
        self._by_id[child.id] = self._of(parent).fork()

    def drop(self, thread: Thread) -> None:
        self._by_id.pop(thread.id, None)


class OraclePolicy:
    def __init__(self, tokenizer: Tokenizer, programs: dict[str, ThreadProgram]):
        self.tokenizer = tokenizer
        self._encode = cached_encoder(tokenizer)
        self._programs = Programs(programs)
        self._pacer = SegmentPacer()

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        for thread in runnable:
            if not self._pacer.planned(thread):
                text = self._programs.next_segment(thread)
                self._pacer.start(thread, text, self._encode(text))
        return self._pacer.advance(runnable)

    def cancel(self, thread: Thread) -> None:
        self._pacer.cancel(thread)

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self._programs.fork(parent, child)

    def on_end(self, thread: Thread) -> None:
        self._programs.drop(thread)
        self._pacer.drop(thread)
