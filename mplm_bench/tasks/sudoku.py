"""Sudoku: instances, prompts per paradigm, and their reference programs.

Thread layouts (DESIGN.md):
- CoT: one thread `main` with the whole board writes deductions and answers the grid.
- FJ: a root `main` with the board forks a child per open unit each round and joins
  their findings, until the grid is full.
- MPLM: a thread per blank cell (`r3c4`), a member of the groups of its row, column and
  box (`r3`, `c4`, `b2`: a send to one reaches the unit's blank cells), whose prompt holds
  its candidates (what its peers' givens leave), and a thread per (unit, missing digit)
  (`b2#7`) that tracks which cells of its unit can still take the digit, starting from the
  cells where the givens allow it. Every context stays O(n). What follows from the givens
  alone is worked out at set-up, so every step a thread writes is a look-up a small trained
  model can learn: drop a peer's digit, tell the dropped digit's three unit threads,
  announce to the units.
"""
from __future__ import annotations

from pathlib import Path

from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, Paradigm
from mplm_bench.runtime.thread import ThreadSpec
from mplm_bench.tasks import sudoku_files, sudoku_generate
from mplm_bench.tasks import sudoku_grid as grid
from mplm_bench.tasks import sudoku_oracle as oracle
from mplm_bench.tasks.base import RunSetup, TaskInputError, check_choice, single_answer

ROOT = "main"
DIFFICULTIES = ("singles", "search")


def _grid_form(n: int) -> str:
    if n <= 9:
        return f"{n * n} characters, digits 1-{n}, row by row"
    return f"{n * n} comma-separated numbers 1-{n}, row by row"


def _board(puzzle: grid.Puzzle) -> str:
    n = puzzle.size
    rows, cols = grid.box_shape(n)
    blank = "'.' is blank" + ("; values are comma-separated" if n > 9 else "")
    return (f"Sudoku {n}x{n}, boxes {rows}x{cols} numbered b1..b{n} row by row; {blank}.\n"
            + "\n".join(sudoku_files.format_rows(n, puzzle.cells)) + "\n")


def cot_prompt(puzzle: grid.Puzzle) -> str:
    return (_board(puzzle)
            + "Find cells one by one, a line each: r<row>c<col>=<digit>. Then give the grid:\n"
            + f"@answer <{_grid_form(puzzle.size)}>\n")


def fork_join_prompt(puzzle: grid.Puzzle) -> str:
    return (_board(puzzle)
            + "Work in rounds. Fork a child per unit that has blanks: @fork r1 | c1 | b1 ...\n"
            + "A child settles the cells of its unit that have one candidate left, or are the one "
            + "place left for a digit, and returns them: @return r<row>c<col>=<digit> ... (or none).\n"
            + "Then @join; the results follow. When the grid is full: "
            + f"@answer <{_grid_form(puzzle.size)}>\n")


def cell_candidates(puzzle: grid.Puzzle, index: int) -> list[int]:
    """The digits a blank cell's peers' givens leave it."""
    return sorted(grid.candidates(puzzle.size, puzzle.cells, index))


def cell_prompt(puzzle: grid.Puzzle, index: int) -> str:
    """Who the cell is, its rules with its own names filled in (the announce as it will
    write it), and its candidates as its first `left` line: a trained model's steps copy
    from lines written as it writes them."""
    n = puzzle.size
    name = grid.cell_name(n, index)
    units = row, col, box = grid.cell_units(n, index)
    announce_line = oracle.announce(name, units, "v")
    return (f"Sudoku {n}x{n}, boxes {'x'.join(map(str, grid.box_shape(n)))}. "
            f"You are cell {name} in {row}, {col}, {box}.\n"
            f"A peer's X=v drops v; {name}=v keeps only v. When news drop digits: left "
            f"<digits>, then @send {row}#d,{col}#d,{box}#d,... {name}!d ... for each dropped "
            "d. Else @recv. When only v is left, tell your units' blank cells: "
            f"{announce_line.rstrip()}, then @answer v.\n"
            f"left {oracle.digit_list(cell_candidates(puzzle, index))}\n")


def unit_digit_prompt(n: int, unit: str, digit: int, open_cells: list[str]) -> str:
    """Who the thread is, its rules with its digit filled in, and the cells open to its
    digit as its first `open` line."""
    return (f"Sudoku {n}x{n}. You are {unit}#{digit}: where digit {digit} goes in unit {unit}.\n"
            f"@exit on X={digit}. On other news about an open cell X: open <cells still "
            f"open>. When one open cell X is left: @send X X={digit}, then @exit. Else @recv.\n"
            f"open {' '.join(open_cells)}\n")


def unit_digit_threads(puzzle: grid.Puzzle) -> list[tuple[str, int, list[str]]]:
    """(unit, digit, open cells) for each digit missing from a unit: the unit's blank cells
    whose peers' givens leave them that digit, in grid order."""
    n, cells = puzzle.size, puzzle.cells
    threads = []
    for unit, members in grid.units(n):
        blanks = [i for i in members if cells[i] == 0]
        present = {cells[i] for i in members}
        options = {i: grid.candidates(n, cells, i) for i in blanks}
        for digit in range(1, n + 1):
            if blanks and digit not in present:
                threads.append((unit, digit, [grid.cell_name(n, i) for i in blanks
                                              if digit in options[i]]))
    return threads


class SudokuTask:
    name = "sudoku"

    def instances(self, size: int, count: int, seed: int, difficulty: str = "singles",
                  path: Path | None = None) -> list[grid.Puzzle]:
        """`count` puzzles from `path`, or generated with seeds seed, seed+1, ..."""
        if path is not None:
            try:
                return sudoku_files.load_puzzles(path)[:count]
            except grid.PuzzleFormatError as error:
                raise TaskInputError(str(error)) from None
        check_choice(size, grid.SIZES, "--size")
        if difficulty not in DIFFICULTIES:
            raise TaskInputError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}")
        return [sudoku_generate.generate(size, seed + k, difficulty) for k in range(count)]

    def setup(self, puzzle: grid.Puzzle, paradigm: Paradigm) -> RunSetup:
        builders = {COT.name: self._cot, FORK_JOIN.name: self._fork_join, MPLM.name: self._mplm}
        return builders[paradigm.name](puzzle)

    def _check(self, puzzle: grid.Puzzle):
        def check(answer: str) -> bool:
            try:
                size, cells = sudoku_files.parse_grid(answer.strip())
            except grid.PuzzleFormatError:
                return False
            return size == puzzle.size and grid.verify(puzzle, cells)
        return check

    def _cot(self, puzzle: grid.Puzzle) -> RunSetup:
        spec = ThreadSpec(ROOT, "main", cot_prompt(puzzle))
        return RunSetup([spec], lambda: {ROOT: oracle.CotProgram(puzzle)},
                        single_answer(ROOT), self._check(puzzle))

    def _fork_join(self, puzzle: grid.Puzzle) -> RunSetup:
        spec = ThreadSpec(ROOT, "main", fork_join_prompt(puzzle))
        return RunSetup([spec],
                        lambda: {ROOT: oracle.ForkJoinRoot(puzzle.size, list(puzzle.cells))},
                        single_answer(ROOT), self._check(puzzle))

    def _mplm(self, puzzle: grid.Puzzle) -> RunSetup:
        n, cells = puzzle.size, puzzle.cells
        blanks = [i for i in range(n * n) if cells[i] == 0]
        specs = [ThreadSpec(grid.cell_name(n, i), "cell", cell_prompt(puzzle, i),
                            groups=grid.cell_units(n, i)) for i in blanks]
        unit_threads = unit_digit_threads(puzzle)
        specs += [ThreadSpec(f"{u}#{d}", "unit-digit", unit_digit_prompt(n, u, d, o))
                  for u, d, o in unit_threads]

        def programs() -> dict:
            found = {grid.cell_name(n, i): oracle.CellProgram(
                grid.cell_name(n, i), grid.cell_units(n, i), cell_candidates(puzzle, i))
                for i in blanks}
            found.update({f"{u}#{d}": oracle.UnitDigitProgram(d, list(o)) for u, d, o in unit_threads})
            return found

        names = [grid.cell_name(n, i) for i in blanks]

        def answer_from(answers: dict[str, str]) -> str | None:
            if len(answers) < len(names) or any(name not in answers for name in names):
                return None
            filled = list(cells)
            for index, name in zip(blanks, names):
                value = answers[name].strip()
                filled[index] = int(value) if value.isdigit() else 0
            return sudoku_files.format_grid(n, filled)

        return RunSetup(specs, programs, answer_from, self._check(puzzle))
