"""Reference programs for Sudoku, one per paradigm: what a perfect model would write.

Each program knows only what its thread's context holds: its prompt's data (given when it
is made) and the lines inserted since its last segment (`news`). Payloads:
`r3c4=7` (cell r3c4 holds 7) and `r3c4!7` (cell r3c4 cannot hold 7).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mplm_bench.runtime import protocol
from mplm_bench.runtime.protocol import Action
from mplm_bench.runtime.thread import Message
from mplm_bench.tasks import sudoku_files
from mplm_bench.tasks import sudoku_grid as grid

_FACT = re.compile(r"(r\d+c\d+)([=!])(\d+)")


def parse_facts(payload: str) -> list[tuple[str, str, int]]:
    """'r3c4=7 r1c2!5' -> [('r3c4', '=', 7), ('r1c2', '!', 5)]"""
    return [(cell, sign, int(value)) for cell, sign, value in _FACT.findall(payload)]


def act(verb: str, payload: str = "", targets: tuple[str, ...] = ()) -> str:
    return protocol.format_action(Action(verb, payload, targets))


def unit_singles(n: int, cells: list[int], unit_cells: tuple[int, ...]) -> dict[int, int]:
    """Cells of one unit that singles settle on this board: cell index -> digit."""
    options = {i: grid.candidates(n, cells, i) for i in unit_cells if cells[i] == 0}
    found = {i: next(iter(digits)) for i, digits in options.items() if len(digits) == 1}
    placed = {cells[i] for i in unit_cells}
    for digit in range(1, n + 1):
        if digit in placed:
            continue
        spots = [i for i, digits in options.items() if digit in digits]
        if len(spots) == 1:
            found.setdefault(spots[0], digit)
    return found


class NoFork:
    """Programs of paradigms without fork (CoT, MPLM)."""

    def fork(self):
        raise NotImplementedError(f"{type(self).__name__} does not fork")


# ---- serial chain of thought ---------------------------------------------------------
@dataclass
class CotProgram(NoFork):
    puzzle: grid.Puzzle

    def next_segment(self, news: list[Message]) -> str:
        solution, deductions = grid.solve_singles(self.puzzle)
        n = self.puzzle.size
        lines = [f"{grid.cell_name(n, d.index)}={d.value}\n" for d in deductions]
        answer = sudoku_files.format_grid(n, solution) if solution else "unsolved"
        return "".join(lines) + act("answer", answer)


# ---- fork-join --------------------------------------------------------------------------
@dataclass
class ForkJoinRoot:
    """Each round: fork a child per unit with blanks, join their findings, apply them."""

    n: int
    cells: list[int]
    forked: bool = False
    joined: bool = False

    def next_segment(self, news: list[Message]) -> str:
        blanks = self.cells.count(0)
        for message in news:
            for cell, _, value in parse_facts(message.payload):
                self.cells[_index(self.n, cell)] = value
        stuck = self.joined and self.cells.count(0) == blanks  # a round found nothing
        if self.forked:
            self.forked, self.joined = False, True
            return act("join")
        if 0 not in self.cells or stuck:  # singles cannot finish a "search" puzzle
            return act("answer", sudoku_files.format_grid(self.n, self.cells))
        open_units = [name for name, members in grid.units(self.n)
                      if any(self.cells[i] == 0 for i in members)]
        self.forked = True
        return act("fork", targets=tuple(open_units))

    def fork(self) -> "ForkJoinChild":
        return ForkJoinChild(self.n, list(self.cells))


@dataclass
class ForkJoinChild:
    n: int
    cells: list[int]

    def next_segment(self, news: list[Message]) -> str:
        unit_name = news[0].payload
        members = dict(grid.units(self.n))[unit_name]
        found = unit_singles(self.n, self.cells, members)
        facts = " ".join(f"{grid.cell_name(self.n, i)}={v}" for i, v in sorted(found.items()))
        return act("return", facts or "none")

    def fork(self) -> "ForkJoinChild":
        return ForkJoinChild(self.n, list(self.cells))


def _index(n: int, name: str) -> int:
    row, col = name[1:].split("c")
    return (int(row) - 1) * n + int(col) - 1


# ---- message passing ----------------------------------------------------------------------
# One thread per candidate (a digit a blank cell may hold), one per (unit, missing digit).
# Addressing does every membership test, so each step is a copy or a fixed map of the one
# message it reads: a placement ends a candidate, a candidate's end takes one off a count.
WAKE = "last"  # a unit-digit thread to its digit's one live candidate in the unit


def candidate_name(cell: str, digit: int | str) -> str:
    return f"{cell}#{digit}"


def candidate_cell(name: str) -> str:
    """The cell of a candidate thread's name (candidate_name's inverse, first part)."""
    return name.partition("#")[0]


def digit_group(unit: str, digit: int | str) -> str:
    """The group of a unit's candidates of a digit and its unit-digit thread."""
    return f"{unit}#{digit}"


def counter_name(unit: str, digit: int | str) -> str:
    """The unit-digit thread."""
    return f"{digit_group(unit, digit)}n"


def announce(cell: str, units: tuple[str, ...], digit: int | str) -> str:
    """A candidate's announce: its cell's other candidates, its digit's candidates in its
    units and their unit-digit threads (members of those groups) hear `r1c1=3`."""
    return act("send", f"{cell}={digit}", (cell,) + tuple(digit_group(u, digit) for u in units))


def strike(cell: str, units: tuple[str, ...], digit: int | str) -> str:
    """A candidate's end: its cell's other candidates and its three unit-digit threads
    hear `r1c1!3` (each takes one off its count)."""
    return act("send", f"{cell}!{digit}", (cell,) + tuple(counter_name(u, digit) for u in units))


def _sign(payload: str) -> str | None:
    """'=' for a placement (`r1c1=3`), '!' for a strike (`r1c1!3`), None for a wake."""
    facts = parse_facts(payload)
    return facts[0][1] if facts else None


@dataclass
class CandidateProgram(NoFork):
    """Digit `digit` in a blank cell. `left` counts the cell's live candidates, itself
    included. A placement it hears rules it out (addressing sends it only placements of its
    digit in its units, or of another digit in its cell): it strikes itself and exits. At
    `left 1`, or woken as its digit's last place in a unit, it announces and answers."""

    cell: str
    units: tuple[str, str, str]  # row, column, box
    digit: int
    left: int  # live candidates of the cell
    ended: bool = False
    announced: bool = False

    def next_segment(self, news: list[Message]) -> str:
        if self.ended:
            return act("exit")
        if self.announced:
            return act("answer", str(self.digit))
        count = ""
        for message in news:  # one message a segment (the thread reads one at a time)
            sign = _sign(message.payload)
            if sign == "=":
                self.ended = True
                return strike(self.cell, self.units, self.digit)
            if sign == "!":
                self.left -= 1
                count = f"left {self.left}\n"
            elif message.payload == WAKE:
                self.left = 1
        if self.left == 1:
            self.announced = True
            return count + announce(self.cell, self.units, self.digit)
        return count + act("recv")


@dataclass
class UnitDigitProgram(NoFork):
    """Digit `digit` in one unit: `open` counts the unit's live candidates of the digit. A
    struck one takes one off; at one it wakes its digit's candidates of the unit (only the
    live one is there to read it); a placement of the digit ends it."""

    unit: str
    digit: int
    open: int
    told: bool = False

    def next_segment(self, news: list[Message]) -> str:
        if self.told:
            return act("exit")
        count = ""
        for message in news:  # one message a segment
            if _sign(message.payload) == "=":
                return act("exit")
            self.open -= 1
            count = f"open {self.open}\n"
        if self.open == 1:
            self.told = True
            return count + act("send", WAKE, (digit_group(self.unit, self.digit),))
        return count + act("recv")
