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
def digit_list(digits) -> str:
    return " ".join(map(str, sorted(digits)))


def announce(name: str, units: tuple[str, ...], value: str) -> str:
    """A cell's announce line: its value to its row, column and box (groups: every blank
    cell of the unit) and to that value's threads of them (the prompt spells it with 'v')."""
    return act("send", f"{name}={value}", tuple(units) + tuple(f"{u}#{value}" for u in units))


@dataclass
class CellProgram(NoFork):
    """One blank cell, starting from its candidates (its prompt's `left` line). Each step is
    local to its last lines: whenever news drop digits it writes a new `left` line and tells
    the dropped digits, in one send, to its three unit threads of each; once one digit is
    left, it announces it to its units and that digit's unit threads."""

    name: str
    units: tuple[str, str, str]  # row, column, box
    left: list[int]  # candidates
    announced: bool = False

    def _hear(self, news: list[Message]) -> list[int]:
        """Apply news (only peers and this cell's unit threads write to a cell); the digits
        they drop."""
        left = set(self.left)
        for message in news:
            for cell, sign, digit in parse_facts(message.payload):
                if sign != "=":
                    continue
                if cell == self.name:
                    left &= {digit}  # a unit-digit thread names this cell's digit
                else:
                    left.discard(digit)
        dropped = sorted(set(self.left) - left)
        self.left = sorted(left)
        return dropped

    def _tell(self, dropped: list[int]) -> str:
        # a candidate is given in none of the cell's units, so all three threads exist
        targets = tuple(f"{u}#{d}" for d in dropped for u in self.units)
        return act("send", " ".join(f"{self.name}!{d}" for d in dropped), targets)

    def _announce(self) -> str:
        self.announced = True
        return announce(self.name, self.units, str(self.left[0]))

    def next_segment(self, news: list[Message]) -> str:
        if self.announced:
            return act("answer", str(self.left[0]))
        dropped = self._hear(news)
        if dropped:
            return f"left {digit_list(self.left)}\n" + self._tell(dropped)
        if len(self.left) == 1:
            return self._announce()
        return act("recv")


@dataclass
class UnitDigitProgram(NoFork):
    """Digit `digit` in one unit: tracks which open cells can still take it, and writes
    them as an `open` line whenever news shrink them."""

    digit: int
    open_cells: list[str]  # in grid order
    told: bool = False

    def next_segment(self, news: list[Message]) -> str:
        if self.told:
            return act("exit")
        state = ""
        if news:
            for message in news:
                for cell, sign, value in parse_facts(message.payload):
                    if sign == "=" and value == self.digit:
                        return act("exit")  # the digit is placed in this unit
                    if cell in self.open_cells:  # holds another digit, or rules this one out
                        self.open_cells.remove(cell)
            state = f"open {' '.join(self.open_cells)}\n"
        if len(self.open_cells) == 1:
            cell = self.open_cells[0]
            self.told = True
            return state + act("send", f"{cell}={self.digit}", (cell,))
        return state + act("recv")
