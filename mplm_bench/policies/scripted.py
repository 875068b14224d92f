"""A scripted policy for tests and demos: each thread writes fixed segments, or segments
computed from its news. It is the oracle policy with hand-written programs, plus a
character tokenizer so runtime semantics can be checked without any model file."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.runtime.thread import Message


class CharTokenizer:
    """One token per character (token = code point); 0 is the end token."""

    bos = None
    eos = 0

    def encode(self, text: str, special: bool = False) -> list[int]:
        return [ord(char) for char in text]

    def decode(self, tokens: Sequence[int]) -> str:
        return "".join(chr(token) for token in tokens if token)


Step = str | Callable[[list[Message]], str]


@dataclass
class ScriptedProgram:
    """Segments in order; a callable segment is given the thread's news. After the script
    ends the thread writes `then` (default @exit). Forked children run `child`."""

    segments: list[Step]
    then: str = "@exit\n"
    child: "ScriptedProgram | None" = None
    _next: int = field(default=0, repr=False)

    def next_segment(self, news: list[Message]) -> str:
        if self._next >= len(self.segments):
            return self.then
        step = self.segments[self._next]
        self._next += 1
        return step(news) if callable(step) else step

    def fork(self) -> "ScriptedProgram":
        template = self.child or ScriptedProgram(["@return done\n"])
        return ScriptedProgram(list(template.segments), template.then, template.child)


def scripted_policy(programs: dict[str, ScriptedProgram]) -> OraclePolicy:
    return OraclePolicy(CharTokenizer(), programs)
