"""The oracle policy: each thread runs the task's reference program, what a perfect model
would write. Its text is tokenized with the chosen model's tokenizer, so costs are real
tokens, and the clock advances as if each segment were decoded one token per step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mplm_bench.backends.base import Tokenizer, cached_encoder
from mplm_bench.runtime.thread import Message, Thread


class ThreadProgram(Protocol):
    """A thread's reference program. It sees only what the thread's context holds: its
    prompt (given when the program is made) and the lines inserted since its last segment."""

    def next_segment(self, news: list[Message]) -> str:
        """The next segment's text: free lines, then one action line."""

    def fork(self) -> "ThreadProgram":
        """A copy for a forked child; the child's task arrives as its first news."""


@dataclass
class _Plan:
    text: str
    tokens: tuple[int, ...]
    remaining: int  # decode steps until the segment is complete


class OraclePolicy:
    def __init__(self, tokenizer: Tokenizer, programs: dict[str, ThreadProgram]):
        self.tokenizer = tokenizer
        self._encode = cached_encoder(tokenizer)
        self._programs_by_name = programs  # root threads, by name
        self._programs: dict[int, ThreadProgram] = {}
        self._plans: dict[int, _Plan] = {}

    def _program(self, thread: Thread) -> ThreadProgram:
        if thread.id not in self._programs:
            self._programs[thread.id] = self._programs_by_name[thread.name]
        return self._programs[thread.id]

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        for thread in runnable:
            if thread.id not in self._plans:
                text = self._program(thread).next_segment(list(thread.news))
                tokens = self._encode(text)
                self._plans[thread.id] = _Plan(text, tokens, max(1, len(tokens)))
                thread.at_boundary = False
        steps = min(self._plans[t.id].remaining for t in runnable)
        completed = []
        for thread in runnable:
            plan = self._plans[thread.id]
            plan.remaining -= steps
            if plan.remaining == 0:
                thread.pending = list(plan.tokens)
                completed.append((thread, plan.text))
                del self._plans[thread.id]
        return steps, completed

    def cancel(self, thread: Thread) -> None:
        plan = self._plans.pop(thread.id, None)
        if plan is not None:  # the part of the segment "decoded" by now counts as generated
            thread.pending = list(plan.tokens[: max(0, len(plan.tokens) - plan.remaining)])

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self._programs[child.id] = self._program(parent).fork()

    def on_end(self, thread: Thread) -> None:
        self._programs.pop(thread.id, None)
        self._plans.pop(thread.id, None)
