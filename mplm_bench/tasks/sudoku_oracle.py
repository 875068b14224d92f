"""Reference programs for Sudoku, one per paradigm: what a perfect model would write.

Each program knows only what its thread's context holds: its prompt's data (given when it
is made) and the lines inserted since its last segment (`news`). Payloads:
`r3c4=7` (cell r3c4 holds 7) and `r3c4!7` (cell r3c4 cannot hold 7).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

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
@dataclass
class CellProgram(NoFork):
    """One blank cell. It knows its peers' givens, tells unit-digit threads what it rules
    out, and announces its value to its blank peers once one candidate is left."""

    n: int
    index: int
    peer_givens: dict[int, int]  # peer index -> given digit
    name: str = ""
    my_units: tuple[str, str, str] = ("", "", "")
    placed: dict[str, set[int]] = field(default_factory=dict)  # unit -> digits known placed
    told: dict[str, set[int]] = field(default_factory=dict)  # unit -> digits ruled out to it
    blank_peers: set[str] = field(default_factory=set)
    candidates: set[int] = field(default_factory=set)
    outbox: list[int] = field(default_factory=list)  # digits ruled out, not yet told
    value: int | None = None
    announced: bool = False

    def __post_init__(self) -> None:
        n = self.n
        self.name = grid.cell_name(n, self.index)
        self.my_units = grid.cell_units(n, self.index)
        unit_members = dict(grid.units(n))
        for unit in self.my_units:
            members = unit_members[unit]
            self.placed[unit] = {self.peer_givens[i] for i in members if i in self.peer_givens}
            self.told[unit] = set()
        self.blank_peers = {grid.cell_name(n, i) for i in grid.peers(n, self.index)
                            if i not in self.peer_givens}
        self.candidates = set(range(1, n + 1)) - set(self.peer_givens.values())
        for digit in sorted(set(range(1, n + 1)) - self.candidates):
            self._rule_out(digit)
        self._settle()

    def _waiting_units(self, digit: int) -> list[str]:
        return [u for u in self.my_units if digit not in self.placed[u] and digit not in self.told[u]]

    def _rule_out(self, digit: int) -> None:
        self.candidates.discard(digit)
        self.outbox.append(digit)

    def _send_rule_out(self) -> str | None:
        """The next queued rule-out to the unit-digit threads still waiting on it."""
        while self.outbox:
            digit = self.outbox.pop(0)
            units = self._waiting_units(digit)
            if units:
                for unit in units:
                    self.told[unit].add(digit)
                return act("send", f"{self.name}!{digit}", tuple(f"{u}#{digit}" for u in units))
        return None

    def _settle(self) -> None:
        if self.value is None and len(self.candidates) == 1:
            self.value = next(iter(self.candidates))

    def _hear(self, message: Message) -> None:
        for cell, sign, digit in parse_facts(message.payload):
            if cell == self.name and sign == "=":
                self.value = digit  # a unit-digit thread names this cell as its digit's place
            elif cell in self.blank_peers and sign == "=":
                self.blank_peers.discard(cell)
                for unit in grid.cell_units(self.n, _index(self.n, cell)):
                    if unit in self.placed:
                        self.placed[unit].add(digit)
                if digit in self.candidates and self.value is None:
                    self._rule_out(digit)
        self._settle()

    def _announce(self) -> str:
        """Tell blank peers the value, and every unit-digit thread still counting on this cell."""
        self.announced = True
        self.outbox = []  # the announcement tells every unit thread not yet told
        units = [f"{u}#{d}" for d in range(1, self.n + 1) for u in self._waiting_units(d)]
        targets = tuple(sorted(self.blank_peers)) + tuple(units)
        if not targets:
            return act("answer", str(self.value))
        return act("send", f"{self.name}={self.value}", targets)

    def next_segment(self, news: list[Message]) -> str:
        for message in news:
            self._hear(message)
        if self.announced:
            return act("answer", str(self.value))
        if self.value is not None:
            return self._announce()
        return self._send_rule_out() or act("recv")


@dataclass
class UnitDigitProgram(NoFork):
    """Digit `digit` in one unit: tracks which open cells can still take it."""

    digit: int
    open_cells: set[str]
    told: bool = False

    def next_segment(self, news: list[Message]) -> str:
        for message in news:
            for cell, sign, value in parse_facts(message.payload):
                if sign == "=" and value == self.digit:
                    return act("exit")  # the digit is placed in this unit
                if sign == "=" or value == self.digit:  # holds another digit, or rules this out
                    self.open_cells.discard(cell)
        if self.told:
            return act("exit")
        if len(self.open_cells) == 1:
            cell = next(iter(self.open_cells))
            self.told = True
            return act("send", f"{cell}={self.digit}", (cell,))
        return act("recv")
