"""Reference programs for long-context QA, one per paradigm: what a perfect reader writes.

A program knows what its thread's context holds: its prompt's text (the document, a chunk,
or only the question) and the lines inserted since its last segment. Being perfect, it
recognizes the sentences the answer rests on (the instance's facts) wherever it reads them,
and what each tells of (Fact.about, Fact.leads_to). It answers the gold answer only when
every fact was in what it read; otherwise "unknown" (e.g. a fact truncated away).

MPLM payloads: "? <thing>" asks the other readers for the sentence about <thing>; any other
payload carries fact sentences.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from mplm_bench.runtime.thread import Message
from mplm_bench.tasks.longqa_files import Fact
from mplm_bench.tasks.sudoku_oracle import NoFork, act

ASK = "? "
UNKNOWN = "unknown"
COORDINATOR = "coordinator"
_CHUNK_TASK = re.compile(r"chunk\s*(\d+)")


def found_in(text: str, facts: tuple[Fact, ...]) -> list[Fact]:
    return [fact for fact in facts if fact.sentence in text]


def _answer_if_all(found: list[Fact], facts: tuple[Fact, ...], answer: str) -> str:
    return act("answer", answer if len(found) == len(facts) else UNKNOWN)


def chunk_of_task(task: str) -> int | None:
    """The chunk number a fork task names ("chunk 3" -> 3), or None."""
    match = _CHUNK_TASK.search(task)
    return int(match.group(1)) if match else None


# ---- chain of thought ---------------------------------------------------------------------
@dataclass
class CotReader(NoFork):
    document: str  # as the thread's prompt holds it (truncated to the window)
    facts: tuple[Fact, ...]
    answer: str

    def next_segment(self, news: list[Message]) -> str:
        found = found_in(self.document, self.facts)
        notes = "".join(f"Found: {fact.sentence}\n" for fact in found)
        return notes + _answer_if_all(found, self.facts, self.answer)


# ---- fork-join: map-reduce over chunks -----------------------------------------------------
@dataclass
class ForkJoinRoot:
    chunks: int
    facts: tuple[Fact, ...]
    answer: str
    step: int = 0

    def next_segment(self, news: list[Message]) -> str:
        self.step += 1
        if self.step == 1:
            return act("fork", targets=tuple(f"chunk {k}" for k in range(1, self.chunks + 1)))
        if self.step == 2:
            return act("join")
        found = found_in(" ".join(message.payload for message in news), self.facts)
        return _answer_if_all(found, self.facts, self.answer)

    def fork(self) -> "ForkJoinReader":
        return ForkJoinReader(self.facts)


@dataclass
class ForkJoinReader(NoFork):
    facts: tuple[Fact, ...]

    def next_segment(self, news: list[Message]) -> str:
        found = found_in(news[0].payload, self.facts)  # the chunk inserted after the task
        return act("return", " ".join(fact.sentence for fact in found) or "none")


# ---- message passing ------------------------------------------------------------------------
@dataclass
class ChunkReader(NoFork):
    """One chunk. It reports loose facts (ones that stand alone) to the coordinator. The
    reader holding the question's first chain fact follows the chain: it asks the other
    readers about each thing its facts lead to, and sends the whole chain to the
    coordinator once it ends. A reader asked about a thing its chunk explains replies."""

    readers: tuple[str, ...]  # the other chunk threads
    held: dict[str, Fact]  # about -> chain fact in this chunk
    loose: list[Fact]  # facts without `about` in this chunk
    start: str | None  # what the question asks about
    facts: tuple[Fact, ...]  # every fact (to read replies)
    chain: list[Fact] = field(default_factory=list)
    outbox: list[tuple[str, str]] = field(default_factory=list)  # (to, payload)
    asked: set[str] = field(default_factory=set)
    reported: bool = False

    def __post_init__(self) -> None:
        if self.loose:
            self.outbox.append((COORDINATOR, " ".join(f.sentence for f in self.loose)))
        if self.start is not None and self.start in self.held:
            self.chain = [self.held[self.start]]

    def _hear(self, message: Message) -> None:
        if message.payload.startswith(ASK):
            thing = message.payload[len(ASK):].strip()
            if thing in self.held:
                self.outbox.append((message.sender, self.held[thing].sentence))
            return
        for fact in found_in(message.payload, self.facts):
            if self.chain and self.chain[-1].leads_to == fact.about:
                self.chain.append(fact)

    def next_segment(self, news: list[Message]) -> str:
        for message in news:
            self._hear(message)
        if self.outbox:
            to, payload = self.outbox.pop(0)
            return act("send", payload, (to,))
        if self.chain and not self.reported:
            while self.chain[-1].leads_to in self.held:
                self.chain.append(self.held[self.chain[-1].leads_to])
            wanted = self.chain[-1].leads_to
            if wanted is None:
                self.reported = True
                return act("send", " ".join(f.sentence for f in self.chain), (COORDINATOR,))
            if wanted not in self.asked:
                self.asked.add(wanted)
                return act("send", ASK + wanted, self.readers)
        return act("recv")


@dataclass
class CoordinatorProgram(NoFork):
    facts: tuple[Fact, ...]  # every fact some chunk holds
    answer: str  # gold, or "unknown" when a fact sits in no single chunk
    got: set[str] = field(default_factory=set)

    def next_segment(self, news: list[Message]) -> str:
        for message in news:
            self.got.update(fact.sentence for fact in found_in(message.payload, self.facts))
        if len(self.got) == len(self.facts):
            return act("answer", self.answer)
        return act("recv")
