"""Tests for mplm_bench.tasks.sudoku_generate and sudoku_sat: SAT checks, fast singles checker, generator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.tasks import sudoku_generate as sgen
from mplm_bench.tasks.sudoku_generate import generate
from mplm_bench.tasks.sudoku_sat import count_solutions, solve_sat
from mplm_bench.tasks.sudoku_grid import Puzzle, solve_singles, verify
from sudoku_cases import CLASSIC_SOLUTION, classic, digits


# --------------------------------------------------------------------------- SAT


def test_count_solutions_and_solve_sat():
    p = classic()
    assert count_solutions(p) == 1
    assert solve_sat(p) == digits(CLASSIC_SOLUTION)
    empty4 = Puzzle(4, (0,) * 16, "e")
    assert count_solutions(empty4, limit=1000) == 288  # number of 4x4 sudoku grids
    assert count_solutions(empty4) == 2
    assert count_solutions(empty4, limit=1) == 1
    assert verify(empty4, solve_sat(empty4))
    cells = list(p.cells)
    cells[2] = 5  # r1c3 = 5 conflicts with r1c1 = 5
    assert count_solutions(Puzzle(9, tuple(cells), "c")) == 0
    assert solve_sat(Puzzle(9, tuple(cells), "c")) is None
    # no candidate for r1c9 (see the contradiction test): unsatisfiable
    cells = [0] * 81
    cells[:8] = range(1, 9)
    cells[9 * 4 + 8] = 9
    assert count_solutions(Puzzle(9, tuple(cells), "u")) == 0
    full = Puzzle(9, digits(CLASSIC_SOLUTION), "full")
    assert count_solutions(full) == 1
    assert solve_sat(full) == digits(CLASSIC_SOLUTION)
    with pytest.raises(ValueError):
        count_solutions(p, limit=0)


def test_count_solutions_two_solutions():
    # a "deadly rectangle": r4c6=1, r4c9=3, r5c6=3, r5c9=1 in two boxes; blanking it leaves
    # exactly two completions (the given one and the one with 1 and 3 swapped in it)
    sol = digits(CLASSIC_SOLUTION)
    rect = (32, 35, 41, 44)
    assert [sol[i] for i in rect] == [1, 3, 3, 1]
    cells = tuple(0 if i in rect else v for i, v in enumerate(sol))
    p = Puzzle(9, cells, "two")
    assert count_solutions(p, limit=10) == 2
    assert count_solutions(p, limit=2) == 2
    assert count_solutions(p, limit=1) == 1
    assert solve_singles(p) == (None, [])


# --------------------------------------------------------------------------- generator


GEN_CASES = [(4, s) for s in range(4)] + [(9, s) for s in range(4)] + [(16, 0), (16, 1), (25, 0)]
MIN_BLANKS = {4: 10, 9: 50, 16: 150, 25: 330}


@pytest.mark.parametrize("n,seed", GEN_CASES)
def test_generate_singles(n, seed):
    p = generate(n, seed)
    assert p.size == n
    assert p.id == f"n{n}-s{seed}-singles"
    assert p.blanks >= MIN_BLANKS[n]
    assert count_solutions(p) == 1
    solution, deductions = solve_singles(p)
    assert solution is not None
    assert len(deductions) == p.blanks
    assert verify(p, solution)
    assert solution == solve_sat(p)
    assert generate(n, seed) == p  # same seed, same puzzle


@pytest.mark.parametrize("n", [4, 9, 16])
def test_generate_seeds_differ(n):
    assert generate(n, 0).cells != generate(n, 1).cells


def test_generate_9_is_minimal_for_singles():
    p = generate(9, 3)
    for i, v in enumerate(p.cells):
        if v:
            cells = list(p.cells)
            cells[i] = 0
            assert solve_singles(Puzzle(9, tuple(cells), "x"))[0] is None


def _greedy_one_at_a_time(n: int, seed: int) -> tuple[int, ...]:
    """The generator's removal done naively, one cell at a time with the public solver."""
    rng = random.Random(seed)
    cells = sgen._full_grid(n, rng)
    order = list(range(n * n))
    rng.shuffle(order)
    for c in order:
        saved, cells[c] = cells[c], 0
        if solve_singles(Puzzle(n, tuple(cells), "x"))[0] is None:
            cells[c] = saved
    return tuple(cells)


@pytest.mark.parametrize("n,seed", [(4, 0), (9, 0), (9, 1), (9, 7)])
def test_chunked_removal_equals_one_at_a_time(n, seed):
    assert generate(n, seed).cells == _greedy_one_at_a_time(n, seed)


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([4, 9, 16]), seed=st.integers(0, 10**6), keep=st.floats(0.0, 1.0))
def test_fast_closure_agrees_with_solve_singles(n, seed, keep):
    rng = random.Random(seed)
    grid = sgen._full_grid(n, rng)
    assert verify(Puzzle(n, (0,) * (n * n), "e"), grid)
    cells = tuple(v if rng.random() < keep else 0 for v in grid)
    expected = solve_singles(Puzzle(n, cells, "x"))[0] is not None
    assert sgen._singles_solvable(n, cells) == expected


@pytest.mark.parametrize("seed", [0, 1])
def test_generate_search_9(seed):
    p = generate(9, seed, "search")
    assert p.id == f"n9-s{seed}-search"
    assert count_solutions(p) == 1
    assert solve_singles(p)[0] is None
    solution = solve_sat(p)
    assert verify(p, solution)
    assert generate(9, seed, "search") == p


def test_generate_errors():
    with pytest.raises(ValueError, match="size must be one of 4, 9, 16, 25"):
        generate(6, 0)
    with pytest.raises(ValueError, match="difficulty must be 'singles' or 'search'"):
        generate(9, 0, "hard")
    with pytest.raises(ValueError, match="not available for size 4"):
        generate(4, 0, "search")
