"""What a run is given and gives back: the policy contract, budgets, running totals and the
outcome (the scheduler in scheduler.py works on these)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from mplm_bench.backends.base import Tokenizer
from mplm_bench.runtime.thread import RunStatus, Thread


class Policy(Protocol):
    """What writes a thread's next segment."""

    tokenizer: Tokenizer

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        """Advance runnable threads; return (decode steps taken, completed segments).
        A completed thread's segment tokens are in thread.pending."""

    def on_fork(self, parent: Thread, child: Thread) -> None:
        """`child` was made as a copy of `parent` (before its task line was inserted)."""

    def on_end(self, thread: Thread) -> None:
        """`thread` finished; free what it held."""

    def cancel(self, thread: Thread) -> None:
        """The run ends mid-segment: leave the tokens decoded so far in thread.pending."""


# (thread, segment text, its tokens, tick it completed); a segment cut off when the run
# ended comes with text "" and the tokens decoded by then
SegmentHook = Callable[[Thread, str, int, int], None]


@dataclass(frozen=True)
class Budgets:
    max_tokens: int = 2_000_000  # generated tokens, all threads
    window: int = 1_000_000  # tokens per thread context
    max_threads: int = 20_000
    wall_s: float = 3600.0  # seconds
    # tokens held in KV by all live threads, parked ones included (memory: a runaway fork
    # tree holds thousands of copied contexts); 0: no limit
    max_live_kv: int = 0


@dataclass
class Accounting:
    """Running totals of one run (tokens unless named otherwise)."""

    generated_tokens: int = 0
    prefill_tokens: int = 0
    kv_copied_tokens: int = 0
    peak_thread_context: int = 0
    peak_live_kv: int = 0
    max_concurrent: int = 0
    messages: int = 0  # delivered messages and join results
    message_tokens: int = 0
    dropped_messages: int = 0  # sent to a thread that had already finished
    protocol_repairs: int = 0  # fixes a tolerant parse made to segments (protocol.REPAIR_*)


@dataclass
class RunOutcome:
    status: RunStatus | None  # None: the run ended normally; the task decides solved/wrong
    detail: str
    answers: dict[str, str]
    threads: list[Thread]
    accounting: Accounting
    ticks: int  # decode steps: the critical path
    wall_s: float
    extra: dict[str, float] = field(default_factory=dict)


class OverBudget(Exception):
    """A policy's thread ran past the token budget where the runtime's count does not show
    it (a server's sampled tokens can re-tokenize shorter): the run ends budget_exhausted."""
