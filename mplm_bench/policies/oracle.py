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


class OraclePolicy:
    def __init__(self, tokenizer: Tokenizer, programs: dict[str, ThreadProgram]):
        self.tokenizer = tokenizer
        self._encode = cached_encoder(tokenizer)
        self._programs_by_name = programs  # root threads, by name
        self._programs: dict[int, ThreadProgram] = {}
        self._pacer = SegmentPacer()

    def _program(self, thread: Thread) -> ThreadProgram:
        if thread.id not in self._programs:
            self._programs[thread.id] = self._programs_by_name[thread.name]
        return self._programs[thread.id]

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        for thread in runnable:
            if not self._pacer.planned(thread):
                text = self._program(thread).next_segment(list(thread.news))
                self._pacer.start(thread, text, self._encode(text))
        return self._pacer.advance(runnable)

    def cancel(self, thread: Thread) -> None:
        self._pacer.cancel(thread)

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self._programs[child.id] = self._program(parent).fork()

    def on_end(self, thread: Thread) -> None:
        self._programs.pop(thread.id, None)
        self._pacer.drop(thread)
