"""What a task hands the runtime for one instance under one paradigm."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

from mplm_bench.paradigms import Paradigm
from mplm_bench.policies.oracle import ThreadProgram
from mplm_bench.runtime.records import RunOutcome, SegmentHook
from mplm_bench.runtime.thread import ThreadSpec


class Instance(Protocol):
    id: str
    size: int


@dataclass
class RunSetup:
    specs: list[ThreadSpec]  # the threads that start the run
    programs: Callable[[], dict[str, ThreadProgram]]  # oracle programs for those threads
    answer_from: Callable[[dict[str, str]], str | None]  # threads' answers -> the run's answer
    check: Callable[[str], bool]  # the task's verifier; never the model's word
    # optional: sees every segment as it completes (thread, text, tokens, tick), e.g. to
    # note when a SAT model first appeared
    on_segment: Optional[SegmentHook] = None
    # optional: the task's own metrics of a finished run (outcome, the run's answer or None)
    task_metrics: Optional[Callable[[RunOutcome, Optional[str]], dict[str, float]]] = None
    # optional: a fork task ("chunk 3") -> the text the runtime inserts into the child (the
    # chunk itself), so a child need not inherit what only it needs; counted as prefill
    expand_task: Optional[Callable[[str], str]] = None


class Task(Protocol):
    name: str

    def setup(self, instance: Instance, paradigm: Paradigm) -> RunSetup: ...


def single_answer(thread_name: str) -> Callable[[dict[str, str]], str | None]:
    """For paradigms whose one root thread answers for the run (CoT, fork-join)."""
    return lambda answers: answers.get(thread_name)


class TokensAfter:
    """Counts tokens decoded after the first segment that `found` accepts (a SAT model, an
    announced answer): the work a perfect early stop would have saved. A segment of k tokens
    that completes at tick t was decoded over ticks t-k+1..t (a thread in a segment is
    runnable every step), so min(k, t - T) of its tokens came after the find at tick T."""

    def __init__(self, found: Callable[[str], bool]):
        self.found = found
        self.tick: int | None = None  # decode step of the first find
        self.tokens = 0  # tokens decoded after it, all threads

    def on_segment(self, thread, text: str, tokens: int, tick: int) -> None:
        if self.tick is None:
            if text and self.found(text):
                self.tick = tick
        elif tick > self.tick:
            self.tokens += min(tokens, tick - self.tick)


class TaskInputError(ValueError):
    """Bad task input from the user (a size, a file): reported as one line, exit 2."""


def check_choice(value: int, allowed: Sequence[int], what: str) -> int:
    if value not in allowed:
        raise TaskInputError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value}")
    return value
