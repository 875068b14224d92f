"""Sudoku grids of side 4, 9, 16 and 25: the puzzle type, geometry, singles solver, verify.

Text forms and puzzle files live in :mod:`mplm_bench.tasks.sudoku_files`; the SAT checks
and the generator in :mod:`mplm_bench.tasks.sudoku_generate`.

Conventions used throughout: cells are indexed 0..n*n-1 in row-major order, a value
0 is a blank and 1..n a digit; rows, columns and boxes are named ``r1``..``rn``,
``c1``..``cn`` and ``b1``..``bn`` (boxes numbered row-major), cells ``r{row}c{col}``
(1-based).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import isqrt
from typing import Sequence

__all__ = [
    "SIZES",
    "PuzzleFormatError",
    "Puzzle",
    "Deduction",
    "box_shape",
    "cell_name",
    "units",
    "cell_units",
    "peers",
    "candidates",
    "solve_singles",
    "verify",
]

SIZES = (4, 9, 16, 25)
DIFFICULTIES = ("singles", "search")

_SIZE_MSG = "size must be one of 4, 9, 16, 25"


class PuzzleFormatError(ValueError):
    """A puzzle text or file is malformed. The message is one line."""


def _check_size(n: int) -> None:
    if n not in SIZES:
        raise ValueError(f"{_SIZE_MSG}, got {n!r}")


@dataclass(frozen=True)
class Puzzle:
    """A puzzle: side ``size``, ``cells`` row-major (0 = blank), and a stable ``id``."""

    size: int
    cells: tuple[int, ...]
    id: str

    def __post_init__(self) -> None:
        _check_size(self.size)
        cells = tuple(int(v) for v in self.cells)
        if len(cells) != self.size * self.size:
            raise ValueError(
                f"a {self.size}x{self.size} puzzle needs {self.size * self.size} cells, got {len(cells)}"
            )
        for i, v in enumerate(cells):
            if not 0 <= v <= self.size:
                raise ValueError(f"value {v} out of range 0..{self.size} at cell {i + 1}")
        object.__setattr__(self, "cells", cells)

    @property
    def blanks(self) -> int:
        """Number of blank cells."""
        return self.cells.count(0)


@dataclass(frozen=True)
class Deduction:
    """One placement made by :func:`solve_singles`."""

    index: int  # cell
    value: int
    rule: str  # "naked" or "hidden"
    unit: str  # for hidden singles the unit name (e.g. "b3"); for naked ""


# --------------------------------------------------------------------------- geometry


def box_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of a box: 4->(2,2), 9->(3,3), 16->(4,4), 25->(5,5)."""
    _check_size(n)
    k = isqrt(n)
    return (k, k)


@dataclass(frozen=True)
class _Tables:
    n: int
    row_of: tuple[int, ...]
    col_of: tuple[int, ...]
    box_of: tuple[int, ...]
    units: tuple[tuple[str, tuple[int, ...]], ...]
    peers: tuple[tuple[int, ...], ...]
    peer_mask: tuple[int, ...]  # bit c set for every peer c of the cell
    unit_mask: tuple[int, ...]  # bit c set for every cell c of the unit


@lru_cache(maxsize=None)
def _tables(n: int) -> _Tables:
    br, bc = box_shape(n)
    N = n * n
    row_of = tuple(i // n for i in range(N))
    col_of = tuple(i % n for i in range(N))
    box_of = tuple((row_of[i] // br) * (n // bc) + col_of[i] // bc for i in range(N))
    rows = [(f"r{r + 1}", tuple(r * n + c for c in range(n))) for r in range(n)]
    cols = [(f"c{c + 1}", tuple(r * n + c for r in range(n))) for c in range(n)]
    boxes = [(f"b{b + 1}", tuple(i for i in range(N) if box_of[i] == b)) for b in range(n)]
    all_units = tuple(rows + cols + boxes)
    peer_list = []
    for i in range(N):
        s = set(rows[row_of[i]][1]) | set(cols[col_of[i]][1]) | set(boxes[box_of[i]][1])
        s.discard(i)
        peer_list.append(tuple(sorted(s)))
    peer_mask = tuple(sum(1 << p for p in ps) for ps in peer_list)
    unit_mask = tuple(sum(1 << c for c in cells) for _, cells in all_units)
    return _Tables(n, row_of, col_of, box_of, all_units, tuple(peer_list), peer_mask, unit_mask)


def _check_index(n: int, index: int) -> None:
    if not 0 <= index < n * n:
        raise ValueError(f"cell index {index} out of range 0..{n * n - 1}")


def cell_name(n: int, index: int) -> str:
    """``r{row}c{col}``, 1-based: cell_name(9, 0) == "r1c1", cell_name(9, 10) == "r2c2"."""
    _check_size(n)
    _check_index(n, index)
    return f"r{index // n + 1}c{index % n + 1}"


def units(n: int) -> list[tuple[str, tuple[int, ...]]]:
    """The 3n units in order rows, columns, boxes, each (name, its n cells row-major)."""
    return list(_tables(n).units)


def cell_units(n: int, index: int) -> tuple[str, str, str]:
    """Names of the row, column and box unit of a cell."""
    t = _tables(n)
    _check_index(n, index)
    return (f"r{t.row_of[index] + 1}", f"c{t.col_of[index] + 1}", f"b{t.box_of[index] + 1}")


def peers(n: int, index: int) -> tuple[int, ...]:
    """Sorted indices of the cells sharing a row, column or box with the cell (itself excluded)."""
    t = _tables(n)
    _check_index(n, index)
    return t.peers[index]


def candidates(n: int, cells: Sequence[int], index: int) -> frozenset[int]:
    """Digits 1..n not used by any peer of the cell (meant for a blank cell)."""
    t = _tables(n)
    _check_index(n, index)
    # set difference over a map stays in C: the FJ oracle asks this ~100k times a 25x25 run
    return _digits(n).difference(map(cells.__getitem__, t.peers[index]))


@lru_cache(maxsize=None)
def _digits(n: int) -> frozenset[int]:
    return frozenset(range(1, n + 1))


def _first_conflict(n: int, cells: Sequence[int]) -> tuple[str, int] | None:
    """(unit name, digit) of the first unit (units() order) holding a digit twice, or None."""
    for name, ucells in _tables(n).units:
        seen = 0
        for c in ucells:
            v = cells[c]
            if v:
                bit = 1 << v
                if seen & bit:
                    return name, v
                seen |= bit
    return None


# --------------------------------------------------------------------------- singles solver


def solve_singles(puzzle: Puzzle) -> tuple[tuple[int, ...] | None, list[Deduction]]:
    """Solve with naked and hidden singles only.

    Returns ``(solution, deductions)`` when the grid gets full, otherwise
    ``(None, deductions made so far)`` (stuck, a contradiction, or givens in conflict).

    The order is deterministic. The solver works in passes; each pass has two steps:

    1. Naked singles: the blank cells are scanned in row-major order; a cell whose
       candidates (digits not used by its peers in the current grid, placements made
       earlier in the same scan included) are exactly one digit is filled at once
       (``rule="naked"``, ``unit=""``). A blank cell without candidates is a contradiction.
    2. Hidden singles: for each unit in :func:`units` order, for each digit ascending that
       the unit does not contain yet, the blank cells of the unit where the digit is a
       candidate (current grid) are counted: exactly one -> it is filled
       (``rule="hidden"``, ``unit`` = the unit's name); none -> a contradiction.

    Passes repeat until the grid is full (success) or a whole pass places nothing (stuck).
    """
    n = puzzle.size
    t = _tables(n)
    cells = list(puzzle.cells)
    if _first_conflict(n, cells) is not None:
        return None, []
    N = n * n
    full = (1 << n) - 1  # bit d-1 stands for digit d
    row_of, col_of, box_of = t.row_of, t.col_of, t.box_of
    rowm = [0] * n
    colm = [0] * n
    boxm = [0] * n
    for c, v in enumerate(cells):
        if v:
            bit = 1 << (v - 1)
            rowm[row_of[c]] |= bit
            colm[col_of[c]] |= bit
            boxm[box_of[c]] |= bit
    blanks = cells.count(0)
    deductions: list[Deduction] = []
    unit_masks = [rowm] * n + [colm] * n + [boxm] * n  # list holding the mask of unit u at [u % n]

    def place(c: int, v: int, rule: str, unit: str) -> None:
        nonlocal blanks
        cells[c] = v
        bit = 1 << (v - 1)
        rowm[row_of[c]] |= bit
        colm[col_of[c]] |= bit
        boxm[box_of[c]] |= bit
        blanks -= 1
        deductions.append(Deduction(c, v, rule, unit))

    while blanks:
        before = blanks
        for c in range(N):
            if cells[c]:
                continue
            m = full & ~(rowm[row_of[c]] | colm[col_of[c]] | boxm[box_of[c]])
            if not m:
                return None, deductions
            if not m & (m - 1):
                place(c, m.bit_length(), "naked", "")
        for u, (name, ucells) in enumerate(t.units):
            masks = unit_masks[u]
            for d in range(1, n + 1):
                bit = 1 << (d - 1)
                if masks[u % n] & bit:
                    continue
                count = 0
                where = -1
                for c in ucells:
                    if not cells[c] and not (rowm[row_of[c]] | colm[col_of[c]] | boxm[box_of[c]]) & bit:
                        count += 1
                        where = c
                if count == 0:
                    return None, deductions
                if count == 1:
                    place(where, d, "hidden", name)
        if blanks == before:
            return None, deductions
    return tuple(cells), deductions


# --------------------------------------------------------------------------- verify


def verify(puzzle: Puzzle, solution: Sequence[int]) -> bool:
    """True when `solution` is a full valid grid of the puzzle's size agreeing with every given."""
    n = puzzle.size
    try:
        sol = [int(v) for v in solution]
    except (TypeError, ValueError):
        return False
    if len(sol) != n * n:
        return False
    if any(not 1 <= v <= n for v in sol):
        return False
    if any(g and g != s for g, s in zip(puzzle.cells, sol)):
        return False
    return _first_conflict(n, sol) is None
