"""Sudoku: instances, prompts per paradigm, and their reference programs.

Thread layouts (DESIGN.md):
- CoT: one thread `main` with the whole board writes deductions and answers the grid.
- FJ: a root `main` with the board forks a child per open unit each round and joins
  their findings, until the grid is full.
- MPLM: a thread per candidate, a digit a blank cell may still hold after the givens
  (`r3c4#7`), and a thread per (unit, missing digit) (`b2#7n`) that counts the unit's
  live candidates of its digit. A candidate is in its cell's group (`r3c4`) and its
  digit's group of each unit (`r3#7`, `c4#7`, `b2#7`, the unit-digit thread too): a
  placement is sent only to the candidates it rules out, so addressing does every
  membership test and no step compares digits or edits a list. A candidate that hears a
  placement strikes itself (`r3c4!7` to its cell and its unit-digit threads); each of
  those takes one off its count; at one the cell's last candidate, or the unit's last
  place for a digit woken by its unit-digit thread, announces (`r3c4=7`). These threads
  read one message per `@recv` (ThreadSpec.recv_one), so a count falls by one a step.
  Every context stays O(n).
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


def candidate_prompt(puzzle: grid.Puzzle, index: int, digit: int) -> str:
    """Who the candidate is, its rules with its own names filled in (its strike and announce
    as it will write them), and its cell's candidate count as its first `left` line."""
    n = puzzle.size
    cell = grid.cell_name(n, index)
    units = row, col, box = grid.cell_units(n, index)
    return (f"Sudoku {n}x{n}. You are {oracle.candidate_name(cell, digit)}: digit {digit} "
            f"in cell {cell}, in {row}, {col}, {box}.\n"
            f"On news X=v: {oracle.strike(cell, units, digit).rstrip()}, then @exit. "
            f"On X!v: left <one less>. At left 1, or on {oracle.WAKE}: "
            f"{oracle.announce(cell, units, digit).rstrip()}, then @answer {digit}. Else @recv.\n"
            f"left {len(cell_candidates(puzzle, index))}\n")


def unit_digit_prompt(n: int, unit: str, digit: int, open_cells: int) -> str:
    """Who the thread is, its rules with its names filled in, and how many of the unit's
    cells the givens leave open to its digit as its first `open` line."""
    return (f"Sudoku {n}x{n}. You are {oracle.counter_name(unit, digit)}: how many cells "
            f"of {unit} can still take {digit}.\n"
            f"On X={digit}: @exit. On X!{digit}: open <one less>. At open 1: "
            f"@send {oracle.digit_group(unit, digit)} {oracle.WAKE}, then @exit. Else @recv.\n"
            f"open {open_cells}\n")


def unit_digit_threads(puzzle: grid.Puzzle) -> list[tuple[str, int, list[int]]]:
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
                threads.append((unit, digit, [i for i in blanks if digit in options[i]]))
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
        options = {i: cell_candidates(puzzle, i) for i in blanks}
        unit_threads = unit_digit_threads(puzzle)
        # a candidate is in its cell's group and its digit's group of each of its units;
        # a unit-digit thread is in its digit's group of its unit
        specs = [ThreadSpec(oracle.candidate_name(grid.cell_name(n, i), d), "candidate",
                            candidate_prompt(puzzle, i, d), recv_one=True,
                            groups=(grid.cell_name(n, i),)
                            + tuple(oracle.digit_group(u, d) for u in grid.cell_units(n, i)))
                 for i in blanks for d in options[i]]
        specs += [ThreadSpec(oracle.counter_name(u, d), "unit-digit",
                             unit_digit_prompt(n, u, d, len(o)), recv_one=True,
                             groups=(oracle.digit_group(u, d),))
                  for u, d, o in unit_threads]

        def programs() -> dict:
            found = {oracle.candidate_name(grid.cell_name(n, i), d): oracle.CandidateProgram(
                grid.cell_name(n, i), grid.cell_units(n, i), d, len(options[i]))
                for i in blanks for d in options[i]}
            found.update({oracle.counter_name(u, d): oracle.UnitDigitProgram(u, d, len(o))
                          for u, d, o in unit_threads})
            return found

        def answer_from(answers: dict[str, str]) -> str | None:
            """The grid once every blank cell has an answering candidate; a cell two
            candidates answered for stays blank (so the grid is wrong)."""
            found: dict[str, set[int]] = {}
            for name, payload in answers.items():
                cell = oracle.candidate_cell(name)
                value = payload.strip()
                found.setdefault(cell, set()).add(int(value) if value.isdigit() else 0)
            if any(grid.cell_name(n, i) not in found for i in blanks):
                return None
            filled = list(cells)
            for index in blanks:
                values = found[grid.cell_name(n, index)]
                filled[index] = next(iter(values)) if len(values) == 1 else 0
            return sudoku_files.format_grid(n, filled)

        return RunSetup(specs, programs, answer_from, self._check(puzzle))
