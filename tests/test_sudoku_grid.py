"""Tests for mplm_bench.tasks.sudoku_grid: geometry, Puzzle, singles solver, verify."""

from __future__ import annotations

import pytest

from mplm_bench.tasks.sudoku_grid import (
    SIZES,
    Deduction,
    Puzzle,
    box_shape,
    candidates,
    cell_name,
    cell_units,
    peers,
    solve_singles,
    units,
    verify,
)
from sudoku_cases import CLASSIC_SOLUTION, classic, digits


# --------------------------------------------------------------------------- geometry


def test_sizes_and_box_shape():
    assert SIZES == (4, 9, 16, 25)
    assert [box_shape(n) for n in SIZES] == [(2, 2), (3, 3), (4, 4), (5, 5)]
    with pytest.raises(ValueError, match="size must be one of 4, 9, 16, 25"):
        box_shape(6)


def test_cell_name():
    assert cell_name(9, 0) == "r1c1"
    assert cell_name(9, 10) == "r2c2"
    assert cell_name(9, 80) == "r9c9"
    assert cell_name(4, 7) == "r2c4"
    assert cell_name(25, 624) == "r25c25"
    assert cell_name(16, 17) == "r2c2"
    with pytest.raises(ValueError):
        cell_name(9, 81)


@pytest.mark.parametrize("n,npeers", [(4, 7), (9, 20), (16, 39), (25, 64)])
def test_units_and_peers_sizes(n, npeers):
    us = units(n)
    assert len(us) == 3 * n
    names = [name for name, _ in us]
    assert names == [f"r{i}" for i in range(1, n + 1)] + [f"c{i}" for i in range(1, n + 1)] + [
        f"b{i}" for i in range(1, n + 1)
    ]
    for _, cells in us:
        assert len(cells) == n
        assert list(cells) == sorted(cells)
    # every cell lies in exactly one row, one column and one box
    count = [0] * (n * n)
    for _, cells in us:
        for c in cells:
            count[c] += 1
    assert count == [3] * (n * n)
    for i in range(n * n):
        p = peers(n, i)
        assert len(p) == npeers
        assert list(p) == sorted(p)
        assert i not in p
    # the units of a cell are exactly the units containing it
    by_name = dict(us)
    for i in (0, n + 1, n * n - 1):
        for name in cell_units(n, i):
            assert i in by_name[name]


def test_unit_contents_9():
    us = dict(units(9))
    assert us["r2"] == tuple(range(9, 18))
    assert us["c3"] == tuple(range(2, 81, 9))
    assert us["b1"] == (0, 1, 2, 9, 10, 11, 18, 19, 20)
    assert us["b3"] == (6, 7, 8, 15, 16, 17, 24, 25, 26)
    assert us["b4"] == (27, 28, 29, 36, 37, 38, 45, 46, 47)
    assert cell_units(9, 0) == ("r1", "c1", "b1")
    assert cell_units(9, 40) == ("r5", "c5", "b5")
    assert cell_units(9, 80) == ("r9", "c9", "b9")
    assert cell_units(25, 624) == ("r25", "c25", "b25")
    assert cell_units(16, 4) == ("r1", "c5", "b2")


def test_peers_exact():
    assert peers(4, 0) == (1, 2, 3, 4, 5, 8, 12)
    assert peers(9, 0) == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 18, 19, 20, 27, 36, 45, 54, 63, 72)


def test_candidates():
    p = classic()
    assert candidates(9, p.cells, 2) == frozenset({1, 2, 4})  # r1c3
    assert candidates(9, p.cells, 40) == frozenset({5})  # r5c5
    assert candidates(4, [0] * 16, 5) == frozenset({1, 2, 3, 4})


# --------------------------------------------------------------------------- Puzzle


def test_puzzle_validation():
    p = Puzzle(4, [0] * 16, "x")  # a list is stored as a tuple
    assert p.cells == (0,) * 16
    assert p.blanks == 16
    with pytest.raises(ValueError, match="size must be one of"):
        Puzzle(6, (0,) * 36, "x")
    with pytest.raises(ValueError, match="needs 16 cells, got 15"):
        Puzzle(4, (0,) * 15, "x")
    with pytest.raises(ValueError, match="out of range"):
        Puzzle(4, (5,) + (0,) * 15, "x")


# --------------------------------------------------------------------------- singles solver


def test_classic_solves_by_singles():
    p = classic()
    solution, deductions = solve_singles(p)
    assert solution == digits(CLASSIC_SOLUTION)
    assert len(deductions) == p.blanks == 51
    assert deductions[0] == Deduction(40, 5, "naked", "")  # r5c5, first naked single row-major
    assert sorted(d.index for d in deductions) == [i for i, v in enumerate(p.cells) if v == 0]
    unit_names = {name for name, _ in units(9)}
    for d in deductions:
        assert d.value == solution[d.index]
        assert d.rule in ("naked", "hidden")
        if d.rule == "naked":
            assert d.unit == ""
        else:
            assert d.unit in unit_names
            assert d.index in dict(units(9))[d.unit]
    assert sum(d.rule == "hidden" for d in deductions) == 38
    assert solve_singles(p) == (solution, deductions)  # deterministic


def test_solve_singles_stuck_and_contradiction():
    empty = Puzzle(9, (0,) * 81, "empty")
    assert solve_singles(empty) == (None, [])
    # r1 holds 1..8, so r1c9 must be 9, but c9 already has a 9: contradiction
    cells = [0] * 81
    cells[:8] = range(1, 9)
    cells[9 * 4 + 8] = 9
    solution, deductions = solve_singles(Puzzle(9, tuple(cells), "bad"))
    assert solution is None
    # conflicting givens: nothing is deduced
    cells = [0] * 81
    cells[0] = cells[1] = 5
    assert solve_singles(Puzzle(9, tuple(cells), "conflict")) == (None, [])


def test_solve_singles_full_grid():
    full = Puzzle(9, digits(CLASSIC_SOLUTION), "full")
    assert solve_singles(full) == (digits(CLASSIC_SOLUTION), [])


# --------------------------------------------------------------------------- verify


def test_verify():
    p = classic()
    sol = digits(CLASSIC_SOLUTION)
    assert verify(p, sol)
    assert verify(p, list(sol))
    # swap two different digits of row 1 that are both blanks in the puzzle: r1c3 (4), r1c4 (6)
    wrong = list(sol)
    wrong[2], wrong[3] = wrong[3], wrong[2]
    assert p.cells[2] == p.cells[3] == 0
    assert not verify(p, wrong)
    # relabel 1 <-> 2 everywhere: a valid grid, but it contradicts the given 1 at r5c9
    relabelled = [{1: 2, 2: 1}.get(v, v) for v in sol]
    assert verify(Puzzle(9, (0,) * 81, "e"), relabelled)
    assert not verify(p, relabelled)
    assert not verify(p, sol[:-1])
    assert not verify(p, sol[:-1] + (0,))
    assert not verify(p, sol[:-1] + (10,))
