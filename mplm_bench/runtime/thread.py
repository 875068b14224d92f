"""A thread: one KV sequence of the model, with its token context, state and mailbox."""
from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from enum import Enum


class ThreadState(Enum):
    RUNNABLE = "runnable"
    RECV = "recv"  # blocked until a message arrives
    JOIN = "join"  # blocked until every forked child returned
    DONE = "done"


class RunStatus(str, Enum):
    SOLVED = "solved"
    WRONG = "wrong"
    CONTEXT_OVERFLOW = "context_overflow"
    BUDGET_EXHAUSTED = "budget_exhausted"
    DEADLOCK = "deadlock"
    PROTOCOL_ERROR = "protocol_error"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    sender: str
    payload: str
    sent_at: int  # decode step (tick) of the send


@dataclass(frozen=True)
class ThreadSpec:
    """What a paradigm asks the runtime to start: a named thread with its prompt."""

    name: str
    role: str
    prompt: str
    # the prompt holds control-token text from a chat template ("<|im_start|>"): tokenize
    # it as those tokens, as the model was trained
    special_tokens: bool = False
    # groups the thread belongs to: a send to a group's name reaches every member but the
    # sender (Sudoku: a cell is in its row, column and box)
    groups: tuple[str, ...] = ()
    # the thread reads its mail only when it asks, one message per @recv, never unasked at
    # a boundary: a thread that keeps a count (Sudoku's candidates) takes one off per
    # message without counting lines, and its step after a send sees no news
    recv_one: bool = False


@dataclass
class Thread:
    id: int
    name: str
    role: str
    parent: int | None = None
    # the context, in KV order; an int array, so a fork copies it with one memcpy
    tokens: array = field(default_factory=lambda: array("i"))
    pending: list[int] = field(default_factory=list)  # tokens of the segment being written
    state: ThreadState = ThreadState.RUNNABLE
    at_boundary: bool = True  # between segments: deliveries may be inserted now
    mailbox: deque[Message] = field(default_factory=deque)
    news: list[Message] = field(default_factory=list)  # inserted since the last segment
    recv_one: bool = False  # ThreadSpec.recv_one
    asked: bool = False  # recv_one: its last action was @recv and no message is in yet
    children: int = 0  # forked so far
    unjoined: list[int] = field(default_factory=list)  # children forked since the last join
    returned: dict[int, str] = field(default_factory=dict)  # child id -> returned payload
    answer: str | None = None
    end: str | None = None  # the verb that finished it: answer, return, exit, or "cancelled"
    unasked_news: bool = False  # messages arrived at a boundary it did not wait at
    preempted: bool = False  # exited right after unasked news: stopped early by a peer
    # accounting, in tokens; prompt + copied + inserted + generated == len(tokens)
    prompt_tokens: int = 0
    copied_tokens: int = 0
    inserted_tokens: int = 0
    generated_tokens: int = 0
    # [start, end) context positions of the thread's own segments (training loss masks)
    generated_spans: list[tuple[int, int]] = field(default_factory=list)
    segments: int = 0
    started_at: int = 0  # tick
    ended_at: int | None = None  # tick

    @property
    def context_len(self) -> int:
        """Tokens in this thread's context now, the segment in progress included."""
        return len(self.tokens) + len(self.pending)

    @property
    def live(self) -> bool:
        return self.state is not ThreadState.DONE
