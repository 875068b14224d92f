"""Segments that are written whole (by a reference program or by a server) paced on the
decode-step clock: a segment of k tokens completes k steps after it starts, as if every
runnable thread decoded one token per step. The oracle and server policies share this, so
critical_path_tokens and the moments messages are delivered mean the same in both."""
from __future__ import annotations

from dataclasses import dataclass

from mplm_bench.runtime.thread import Thread


@dataclass
class Plan:
    text: str
    tokens: tuple[int, ...]
    remaining: int  # decode steps until the segment is complete
    complete: bool = True  # False: cut before its action line (it ran past a budget)


class SegmentPacer:
    def __init__(self) -> None:
        self._plans: dict[int, Plan] = {}  # by thread id

    def planned(self, thread: Thread) -> bool:
        return thread.id in self._plans

    def start(self, thread: Thread, text: str, tokens: tuple[int, ...], complete: bool = True,
              decoded: int = 0) -> None:
        """`decoded`: tokens of this segment already paced (a cut segment continued)."""
        self._plans[thread.id] = Plan(text, tokens, max(1, len(tokens) - decoded), complete)
        thread.at_boundary = False

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        """Jump the clock to the next completion; every runnable thread must have a plan.
        A cut segment, when due, leaves its tokens in thread.pending without completing:
        the scheduler's budget or window check then ends the run, as with a model."""
        steps = min(self._plans[t.id].remaining for t in runnable)
        completed = []
        for thread in runnable:
            plan = self._plans[thread.id]
            plan.remaining -= steps
            if plan.remaining == 0:
                thread.pending = list(plan.tokens)
                del self._plans[thread.id]
                if plan.complete:
                    completed.append((thread, plan.text))
        return steps, completed

    def cancel(self, thread: Thread) -> None:
        plan = self._plans.pop(thread.id, None)
        if plan is not None:  # the part of the segment "decoded" by now counts as generated
            thread.pending = list(plan.tokens[: max(0, len(plan.tokens) - plan.remaining)])

    def drop(self, thread: Thread) -> None:
        self._plans.pop(thread.id, None)
