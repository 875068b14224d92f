"""PySAT checks for Sudoku: count solutions (uniqueness), solve, and an incremental
uniqueness oracle for the generator's "search" class."""

from __future__ import annotations

from typing import Sequence

from mplm_bench.tasks.sudoku_grid import Puzzle, _first_conflict, _tables, candidates


def _make_solver(clauses: list[list[int]]):
    try:
        from pysat.solvers import Cadical153 as _Solver
    except ImportError:  # older python-sat
        from pysat.solvers import Glucose4 as _Solver
    return _Solver(bootstrap_with=clauses)


def _encode(puzzle: Puzzle):
    """CNF over (blank cell, candidate digit) booleans, or None when plainly unsatisfiable.

    Givens are fixed by construction (equivalent to unit clauses for them followed by unit
    propagation): only candidates of blank cells get variables. Clauses: exactly one digit
    per blank cell; each digit missing from a unit exactly once among that unit's blank cells.
    Returns (clauses, var_cell, var_digit, blank_vars) where var ids are 1-based.
    """
    n = puzzle.size
    cells = puzzle.cells
    if _first_conflict(n, cells) is not None:
        return None
    t = _tables(n)
    var: dict[tuple[int, int], int] = {}
    var_cell = [0]
    var_digit = [0]
    clauses: list[list[int]] = []
    for c in range(n * n):
        if cells[c]:
            continue
        cand = sorted(candidates(n, cells, c))
        if not cand:
            return None
        lits = []
        for d in cand:
            var[(c, d)] = len(var_cell)
            var_cell.append(c)
            var_digit.append(d)
            lits.append(var[(c, d)])
        clauses.append(lits)
        clauses.extend([-a, -b] for i, a in enumerate(lits) for b in lits[i + 1:])
    for _, ucells in t.units:
        present = {cells[c] for c in ucells}
        for d in range(1, n + 1):
            if d in present:
                continue
            lits = [var[(c, d)] for c in ucells if (c, d) in var]
            if not lits:
                return None
            clauses.append(lits)
            clauses.extend([-a, -b] for i, a in enumerate(lits) for b in lits[i + 1:])
    return clauses, var_cell, var_digit


def _decode(puzzle: Puzzle, model: list[int], var_cell: list[int], var_digit: list[int]) -> list[int]:
    out = list(puzzle.cells)
    nvars = len(var_cell) - 1
    for lit in model:
        if 0 < lit <= nvars:
            out[var_cell[lit]] = var_digit[lit]
    return out


def count_solutions(puzzle: Puzzle, limit: int = 2) -> int:
    """Number of solutions, counted with PySAT up to ``limit`` (returns min(count, limit)).

    After each model a clause blocking that model's digits for the blank cells is added.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    enc = _encode(puzzle)
    if enc is None:
        return 0
    clauses, var_cell, var_digit = enc
    if len(var_cell) == 1:  # no blanks, no conflicts: the grid is its own solution
        return 1
    count = 0
    with _make_solver(clauses) as solver:
        while count < limit and solver.solve():
            count += 1
            model = solver.get_model()
            solver.add_clause([-lit for lit in model if 0 < lit < len(var_cell)])
    return count


def solve_sat(puzzle: Puzzle) -> tuple[int, ...] | None:
    """One solution found with PySAT, or None when there is none."""
    enc = _encode(puzzle)
    if enc is None:
        return None
    clauses, var_cell, var_digit = enc
    if len(var_cell) == 1:
        return tuple(puzzle.cells)
    with _make_solver(clauses) as solver:
        if not solver.solve():
            return None
        return tuple(_decode(puzzle, solver.get_model(), var_cell, var_digit))


class UniquenessOracle:
    """Incremental check 'is `solution` the only completion of these givens?'.

    One solver holds the full encoding (var c*n+d for cell c, digit d+1). A query assumes
    the givens and, through a fresh activation literal, a clause demanding that some
    blank cell differ from `solution`; UNSAT means unique.
    """

    def __init__(self, n: int, solution: Sequence[int]):
        self.n = n
        self.solution = list(solution)
        N = n * n
        clauses: list[list[int]] = []

        def x(c: int, d: int) -> int:
            return c * n + d + 1

        def exactly_one(lits: list[int]) -> None:
            clauses.append(lits)
            clauses.extend([-a, -b] for i, a in enumerate(lits) for b in lits[i + 1:])

        for c in range(N):
            exactly_one([x(c, d) for d in range(n)])
        for _, ucells in _tables(n).units:
            for d in range(n):
                exactly_one([x(c, d) for c in ucells])
        self.next_var = N * n + 1
        self.solver = _make_solver(clauses)

    def unique(self, cells: Sequence[int]) -> bool:
        n = self.n
        sol = self.solution
        act = self.next_var
        self.next_var += 1
        assumptions = [c * n + v for c, v in enumerate(cells) if v]
        block = [-(c * n + sol[c]) for c, v in enumerate(cells) if not v]
        if not block:
            return True
        self.solver.add_clause([-act] + block)
        sat = self.solver.solve(assumptions=assumptions + [act])
        self.solver.add_clause([-act])
        return not sat

    def close(self) -> None:
        self.solver.delete()
