"""Reference programs for SAT: DPLL written as text, one program per thread of each paradigm.

The search (`Dpll`) is plain DPLL: unit propagation in trail order, branching on the
variable with the most occurrences in the shortest unsatisfied clauses (the value that
satisfies more of them first), chronological backtracking. It writes one line per step:

    decide x3=T        branch
    x5=F by c17        clause c17 forces it (unit propagation)
    conflict c12       clause c12 has every literal false
    backtrack x3=F     undo to the last decision not yet flipped, take its other value

and is cut into chunks: the propagations implied by the assumptions, then one chunk per
decide or backtrack with its propagations (and conflict). A message reaches a thread only
at an action boundary, so an MPLM branch ends every chunk with `@poll`.
Answers and results: `SAT <literals>` (DIMACS style, the assigned variables: `1 -2 5`) or
`UNSAT`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from mplm_bench.runtime import protocol
from mplm_bench.runtime.protocol import Action
from mplm_bench.runtime.thread import Message
from mplm_bench.tasks.sat_cnf import Formula

UNSAT = "UNSAT"


def act(verb: str, payload: str = "", targets: tuple[str, ...] = ()) -> str:
    return protocol.format_action(Action(verb, payload, targets))


def literal_text(literal: int) -> str:
    return f"x{abs(literal)}={'T' if literal > 0 else 'F'}"


def assumption_text(assumptions: tuple[int, ...]) -> str:
    return "assume " + " ".join(literal_text(lit) for lit in assumptions)


def parse_assumptions(text: str) -> tuple[int, ...]:
    """'assume x3=T x7=F' -> (3, -7)"""
    literals = []
    for word in text.split()[1:]:
        var, _, value = word[1:].partition("=")
        literals.append(int(var) if value == "T" else -int(var))
    return tuple(literals)


def model_text(model: list[int]) -> str:
    return "SAT " + " ".join(map(str, model))


@dataclass
class _Level:
    start: int  # trail length before its literal
    literal: int
    flipped: bool = False


class Dpll:
    """DPLL on `formula` under `assumptions`; `chunks()` yields (lines, result), result
    None until the last chunk, then `SAT <literals>` or `UNSAT`."""

    def __init__(self, formula: Formula, assumptions: tuple[int, ...] = ()):
        self.clauses = formula.clauses
        self.value = [0] * (formula.num_vars + 1)  # +1 true, -1 false, 0 unassigned
        self.occurs: dict[int, list[int]] = {}  # literal -> clauses that hold it
        for index, clause in enumerate(formula.clauses):
            for literal in clause:
                self.occurs.setdefault(literal, []).append(index)
        self.assumptions = assumptions
        self.trail: list[int] = []
        self.head = 0  # trail position propagation has reached
        self.levels: list[_Level] = []

    def _truth(self, literal: int) -> int:
        return self.value[abs(literal)] * (1 if literal > 0 else -1)

    def _assign(self, literal: int) -> None:
        self.value[abs(literal)] = 1 if literal > 0 else -1
        self.trail.append(literal)

    def _propagate(self, lines: list[str]) -> int | None:
        """Unit propagation; the index of a clause with every literal false, or None."""
        while self.head < len(self.trail):
            falsified = -self.trail[self.head]
            self.head += 1
            for index in self.occurs.get(falsified, ()):
                open_literals = self._open_literals(self.clauses[index])
                if open_literals is None:
                    continue
                if not open_literals:
                    return index
                if len(open_literals) == 1:
                    self._assign(open_literals[0])
                    lines.append(f"{literal_text(open_literals[0])} by c{index + 1}")
        return None

    def _open_literals(self, clause) -> list[int] | None:
        """The clause's unassigned literals, or None when one of its literals is true."""
        open_literals = []
        for literal in clause:
            truth = self._truth(literal)
            if truth > 0:
                return None
            if truth == 0:
                open_literals.append(literal)
        return open_literals

    def _branch_literal(self) -> int | None:
        """Most occurrences in the shortest unsatisfied clauses; None when all are satisfied."""
        shortest, counts = None, {}
        for clause in self.clauses:
            open_literals = self._open_literals(clause)
            if open_literals is None:
                continue
            if shortest is None or len(open_literals) < shortest:
                shortest, counts = len(open_literals), {}
            if len(open_literals) == shortest:
                for literal in open_literals:
                    counts[literal] = counts.get(literal, 0) + 1
        if shortest is None:
            return None
        variable = min({abs(lit) for lit in counts},
                       key=lambda v: (-(counts.get(v, 0) + counts.get(-v, 0)), v))
        return variable if counts.get(variable, 0) >= counts.get(-variable, 0) else -variable

    def _backtrack(self) -> int | None:
        """Undo to the last unflipped decision and flip it; None when none is left."""
        while self.levels and self.levels[-1].flipped:
            self.levels.pop()
        if not self.levels:
            return None
        level = self.levels[-1]
        for literal in self.trail[level.start:]:
            self.value[abs(literal)] = 0
        del self.trail[level.start:]
        self.head = level.start
        level.literal, level.flipped = -level.literal, True
        self._assign(level.literal)
        return level.literal

    def model(self) -> list[int]:
        return [v * self.value[v] for v in range(1, len(self.value)) if self.value[v]]

    def chunks(self) -> Iterator[tuple[list[str], str | None]]:
        lines: list[str] = []
        for literal in self.assumptions:
            self._assign(literal)
        conflict = self._propagate(lines)
        while True:
            if conflict is not None:
                lines.append(f"conflict c{conflict + 1}")
                flipped = self._backtrack()
                if flipped is None:
                    yield lines, UNSAT
                    return
                yield lines, None
                lines = [f"backtrack {literal_text(flipped)}"]
            else:
                decision = self._branch_literal()
                if decision is None:
                    yield lines, model_text(self.model())
                    return
                if lines:
                    yield lines, None
                self.levels.append(_Level(len(self.trail), decision))
                self._assign(decision)
                lines = [f"decide {literal_text(decision)}"]
            conflict = self._propagate(lines)


def solve_text(formula: Formula, assumptions: tuple[int, ...] = ()) -> tuple[str, str]:
    """The whole DPLL trace (lines) and its result."""
    text = []
    for lines, result in Dpll(formula, assumptions).chunks():
        text += lines
        if result is not None:
            return "".join(line + "\n" for line in text), result
    raise AssertionError("DPLL ended without a result")


class NoFork:
    def fork(self):
        raise NotImplementedError(f"{type(self).__name__} does not fork")


# ---- serial chain of thought ---------------------------------------------------------
@dataclass
class CotProgram(NoFork):
    formula: Formula

    def next_segment(self, news: list[Message]) -> str:
        trace, result = solve_text(self.formula)
        return trace + act("answer", result)


# ---- fork-join ------------------------------------------------------------------------
@dataclass
class ForkJoinRoot:
    """Fork a child per assignment of the split variables, join all, answer."""

    formula: Formula
    tasks: tuple[str, ...]  # 'assume x3=T x7=F', one per child
    forked: bool = False
    joined: bool = False

    def next_segment(self, news: list[Message]) -> str:
        if not self.forked:
            self.forked = True
            return act("fork", targets=self.tasks)
        if not self.joined:
            self.joined = True
            return act("join")
        found = [m.payload for m in news if m.payload.startswith("SAT")]
        return act("answer", found[0] if found else UNSAT)

    def fork(self) -> "ForkJoinChild":
        return ForkJoinChild(self.formula)


@dataclass
class ForkJoinChild(NoFork):
    formula: Formula

    def next_segment(self, news: list[Message]) -> str:
        trace, result = solve_text(self.formula, parse_assumptions(news[0].payload))
        return trace + act("return", result)


# ---- message passing --------------------------------------------------------------------
@dataclass
class BranchProgram(NoFork):
    """DPLL under its assumptions, a chunk a segment. A model goes to the peers and the
    coordinator; an exhausted search tells the coordinator UNSAT; a peer's model stops it."""

    formula: Formula
    assumptions: tuple[int, ...]
    peers: tuple[str, ...]
    coordinator: str
    done: bool = False
    search: Iterator = field(init=False)

    def __post_init__(self) -> None:
        self.search = Dpll(self.formula, self.assumptions).chunks()

    def next_segment(self, news: list[Message]) -> str:
        if self.done or any(m.payload.startswith("SAT") for m in news):
            return act("exit")
        lines, result = next(self.search)
        trace = "".join(line + "\n" for line in lines)
        if result is None:
            return trace + act("poll")
        self.done = True
        if result == UNSAT:
            return trace + act("send", UNSAT, (self.coordinator,))
        return trace + act("send", result, self.peers + (self.coordinator,))


@dataclass
class CoordinatorProgram(NoFork):
    """Answers the first model a branch sends, or UNSAT once every branch said UNSAT."""

    branches: int
    unsat: int = 0

    def next_segment(self, news: list[Message]) -> str:
        for message in news:
            if message.payload.startswith("SAT"):
                return act("answer", message.payload)
            self.unsat += message.payload.strip() == UNSAT
        if self.unsat == self.branches:
            return act("answer", UNSAT)
        return act("recv")
