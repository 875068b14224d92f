"""Shared Sudoku test data: the classic 9x9 puzzle and its solution."""

from __future__ import annotations

from mplm_bench.tasks.sudoku_files import parse_grid
from mplm_bench.tasks.sudoku_grid import Puzzle

CLASSIC = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
CLASSIC_SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def classic() -> Puzzle:
    n, cells = parse_grid(CLASSIC)
    return Puzzle(n, cells, "classic")


def digits(text: str) -> tuple[int, ...]:
    return tuple(0 if ch in ".0" else int(ch) for ch in text)
