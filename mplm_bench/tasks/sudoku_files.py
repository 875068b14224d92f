"""Sudoku text forms: one-line grids, board rows, puzzle lines and puzzle files.

Puzzle file format
------------------

A puzzle file is UTF-8 text with one puzzle per line.

* Blank lines and lines whose first non-space character is ``#`` are ignored.
* Every other line must contain a grid as one whitespace-separated field. The grid is
  the FIRST field on the line that parses as a grid; every other field on the line (an
  id before it, a rating or comment after it) is ignored. If no field parses, the
  line is an error, reported as ``path:lineno: reason``.
* A grid lists the cells row by row (row 1 left to right, then row 2, ...) in one of
  two forms:

  - Compact form, for 4x4 and 9x9 only: one character per cell, exactly 16 or 81
    characters, each one of ``1``-``9`` (a given digit) or ``.`` / ``0`` (a blank).
    For 4x4 the digits must be ``1``-``4``. Example (9x9)::

        53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79

  - Comma form, for any size and required above 9x9: exactly n*n comma-separated
    fields (16, 81, 256 or 625 fields for n = 4, 9, 16, 25), each a decimal digit
    value ``1``..``n`` or a blank written as ``.``, ``0`` or an empty field. Example
    (start of a 16x16 row): ``12,.,3,,16,0,...``.

* The givens must not conflict: a digit may appear at most once in each row, column
  and box (boxes are 2x2, 3x3, 4x4 and 5x5).

A loaded puzzle gets the id ``<file name>:<line number>`` (e.g. ``puzzles.txt:3``);
a generated one gets ``n<size>-s<seed>-<difficulty>`` (e.g. ``n9-s42-singles``).
"""

from __future__ import annotations

from math import isqrt
from pathlib import Path
from typing import Sequence

from mplm_bench.tasks.sudoku_grid import (
    SIZES,
    Puzzle,
    PuzzleFormatError,
    _check_size,
    _first_conflict,
    cell_name,
)

__all__ = [
    "format_grid",
    "format_rows",
    "parse_grid",
    "parse_puzzle_line",
    "load_puzzles",
]

_CELL_COUNTS_MSG = "expected 16, 81, 256 or 625 cells"
_COMPACT_CHARS = frozenset("123456789.0")


def _check_cells(n: int, cells: Sequence[int]) -> None:
    _check_size(n)
    if len(cells) != n * n:
        raise ValueError(f"a {n}x{n} grid needs {n * n} cells, got {len(cells)}")
    for i, v in enumerate(cells):
        if not 0 <= v <= n:
            raise ValueError(f"value {v} out of range 0..{n} at cell {i + 1}")


def _row_text(n: int, values: Sequence[int]) -> str:
    if n <= 9:
        return "".join(str(v) if v else "." for v in values)
    return ",".join(str(v) if v else "." for v in values)


def format_grid(n: int, cells: Sequence[int]) -> str:
    """One-line form read back by parse_grid: compact for n <= 9, comma form above."""
    _check_cells(n, cells)
    return _row_text(n, cells)


def format_rows(n: int, cells: Sequence[int]) -> list[str]:
    """The board as n row strings: compact ("53..7....") for n <= 9, comma fields above."""
    _check_cells(n, cells)
    return [_row_text(n, cells[r * n:(r + 1) * n]) for r in range(n)]


def _where(n: int, i: int) -> str:
    return f"cell {i + 1} ({cell_name(n, i)})"


def parse_grid(text: str) -> tuple[int, tuple[int, ...]]:
    """Parse one grid token (compact or comma form, see the module doc) into (n, cells)."""
    token = text.strip()
    if any(ch.isspace() for ch in token):
        raise PuzzleFormatError("a grid must be a single field without spaces")
    if "," in token:
        fields = token.split(",")
        count = len(fields)
        n = isqrt(count)
        if n * n != count or n not in SIZES:
            raise PuzzleFormatError(f"{_CELL_COUNTS_MSG}, got {count}")
        cells = []
        for i, f in enumerate(fields):
            if f in ("", ".", "0"):
                cells.append(0)
                continue
            if not (f.isascii() and f.isdigit()):
                raise PuzzleFormatError(f"invalid field {f[:20]!r} at {_where(n, i)}")
            v = int(f)
            if not 1 <= v <= n:
                raise PuzzleFormatError(f"value {v} out of range 1..{n} at {_where(n, i)}")
            cells.append(v)
        return n, tuple(cells)
    count = len(token)
    if count not in (16, 81):
        raise PuzzleFormatError(f"{_CELL_COUNTS_MSG}, got {count}")
    n = isqrt(count)
    cells = []
    for i, ch in enumerate(token):
        if ch not in _COMPACT_CHARS:
            raise PuzzleFormatError(f"invalid character {ch!r} at {_where(n, i)}")
        v = 0 if ch in ".0" else int(ch)
        if v > n:
            raise PuzzleFormatError(f"value {v} out of range 1..{n} at {_where(n, i)}")
        cells.append(v)
    return n, tuple(cells)


def parse_puzzle_line(line: str, where: str) -> Puzzle | None:
    """One line of a puzzle file (see the module doc); None for blank and ``#`` lines."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    best: tuple[int, str] | None = None
    for field in stripped.split():
        try:
            n, cells = parse_grid(field)
        except PuzzleFormatError as exc:
            if best is None or len(field) > best[0]:
                best = (len(field), str(exc))
            continue
        conflict = _first_conflict(n, cells)
        if conflict is not None:
            unit, digit = conflict
            raise PuzzleFormatError(f"givens conflict in unit {unit}: digit {digit} appears twice")
        return Puzzle(n, cells, where)
    assert best is not None
    raise PuzzleFormatError(best[1])


def load_puzzles(path: str | Path) -> list[Puzzle]:
    """Every puzzle of a puzzle file; ids are ``<file name>:<line number>``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PuzzleFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise PuzzleFormatError(f"{path}: cannot read puzzle file: {exc.strerror or exc}") from None
    puzzles = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        try:
            puzzle = parse_puzzle_line(line, f"{p.name}:{lineno}")
        except PuzzleFormatError as exc:
            raise PuzzleFormatError(f"{path}:{lineno}: {exc}") from None
        if puzzle is not None:
            puzzles.append(puzzle)
    if not puzzles:
        raise PuzzleFormatError(f"{path}: no puzzles found")
    return puzzles
