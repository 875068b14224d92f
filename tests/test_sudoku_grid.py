"""Tests for mplm_bench.tasks.sudoku_grid: geometry, solvers, generator, text forms, loader."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.tasks import sudoku_grid as sg
from mplm_bench.tasks.sudoku_grid import (
    SIZES,
    Deduction,
    Puzzle,
    PuzzleFormatError,
    box_shape,
    candidates,
    cell_name,
    cell_units,
    count_solutions,
    format_grid,
    format_rows,
    generate,
    load_puzzles,
    parse_grid,
    parse_puzzle_line,
    peers,
    solve_sat,
    solve_singles,
    units,
    verify,
)

CLASSIC = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
CLASSIC_SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def classic() -> Puzzle:
    n, cells = parse_grid(CLASSIC)
    return Puzzle(n, cells, "classic")


def digits(text: str) -> tuple[int, ...]:
    return tuple(0 if ch in ".0" else int(ch) for ch in text)


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
    cells = sg._full_grid(n, rng)
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
    grid = sg._full_grid(n, rng)
    assert verify(Puzzle(n, (0,) * (n * n), "e"), grid)
    cells = tuple(v if rng.random() < keep else 0 for v in grid)
    expected = solve_singles(Puzzle(n, cells, "x"))[0] is not None
    assert sg._singles_solvable(n, cells) == expected


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


# --------------------------------------------------------------------------- text forms


def test_format_grid_and_rows():
    p = classic()
    assert format_grid(9, p.cells) == CLASSIC
    rows = format_rows(9, p.cells)
    assert rows[0] == "53..7...."
    assert rows[8] == "....8..79"
    assert "".join(rows) == CLASSIC
    cells16 = [0] * 256
    cells16[0], cells16[2] = 12, 3
    assert format_grid(16, cells16).startswith("12,.,3,.,")
    assert format_grid(16, cells16).count(",") == 255
    assert format_rows(16, cells16)[0] == "12,.,3" + ",." * 13
    assert format_grid(4, (1, 0, 0, 4) + (0,) * 12) == "1..4" + "." * 12
    with pytest.raises(ValueError):
        format_grid(9, (0,) * 80)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.sampled_from(SIZES))
def test_format_parse_round_trip(data, n):
    cells = tuple(data.draw(st.lists(st.integers(0, n), min_size=n * n, max_size=n * n)))
    text = format_grid(n, cells)
    assert " " not in text
    assert parse_grid(text) == (n, cells)
    sep = "" if n <= 9 else ","
    assert sep.join(format_rows(n, cells)) == text


def test_parse_grid_forms():
    assert parse_grid(CLASSIC) == (9, digits(CLASSIC))
    assert parse_grid(CLASSIC.replace(".", "0")) == (9, digits(CLASSIC))
    comma9 = ",".join(str(v) if v else "" for v in digits(CLASSIC))
    assert parse_grid(comma9) == (9, digits(CLASSIC))
    assert parse_grid("1..4" + "0" * 12) == (4, (1, 0, 0, 4) + (0,) * 12)
    fields = ["."] * 256
    fields[0], fields[1], fields[2] = "16", "0", ""
    assert parse_grid(",".join(fields)) == (16, (16,) + (0,) * 255)


@pytest.mark.parametrize(
    "text,reason",
    [
        (CLASSIC[:80], "expected 16, 81, 256 or 625 cells, got 80"),
        (CLASSIC + "1", "expected 16, 81, 256 or 625 cells, got 82"),
        ("x" + CLASSIC[1:], "invalid character 'x' at cell 1 (r1c1)"),
        ("1235" + "." * 12, "value 5 out of range 1..4 at cell 4 (r1c4)"),
        (",".join(["."] * 80), "expected 16, 81, 256 or 625 cells, got 80"),
        (",".join(["."] * 4 + ["17"] + ["."] * 251), "value 17 out of range 1..16 at cell 5 (r1c5)"),
        (",".join(["."] * 4 + ["a"] + ["."] * 251), "invalid field 'a' at cell 5 (r1c5)"),
        (",".join(["."] * 4 + ["-1"] + ["."] * 251), "invalid field '-1' at cell 5 (r1c5)"),
    ],
)
def test_parse_grid_errors(text, reason):
    with pytest.raises(PuzzleFormatError) as info:
        parse_grid(text)
    assert str(info.value) == reason


def test_parse_puzzle_line():
    sol = digits(CLASSIC)
    assert parse_puzzle_line(CLASSIC, "p.txt:1") == Puzzle(9, sol, "p.txt:1")
    p = parse_puzzle_line(f"  puzzle-17 {CLASSIC.replace('.', '0')} 3.5 extra\n", "p.txt:4")
    assert p == Puzzle(9, sol, "p.txt:4")
    assert parse_puzzle_line("", "x") is None
    assert parse_puzzle_line("   \n", "x") is None
    assert parse_puzzle_line("# a comment " + CLASSIC, "x") is None
    assert parse_puzzle_line("   # indented comment", "x") is None
    fields = ["."] * 256
    fields[17] = "16"
    p16 = parse_puzzle_line("id16 " + ",".join(fields) + " hard", "big.txt:2")
    assert p16.size == 16 and p16.cells[17] == 16 and p16.blanks == 255 and p16.id == "big.txt:2"


def test_parse_puzzle_line_errors():
    with pytest.raises(PuzzleFormatError, match=r"^expected 16, 81, 256 or 625 cells, got 80$"):
        parse_puzzle_line("id-1 " + CLASSIC[:80] + " 4.5", "x")
    with pytest.raises(PuzzleFormatError, match=r"^value 17 out of range 1\.\.16 at cell 5 \(r1c5\)$"):
        parse_puzzle_line("id " + ",".join(["."] * 4 + ["17"] + ["."] * 251), "x")
    cells = ["."] * 81
    cells[18] = cells[26] = "5"  # r3c1 and r3c9
    with pytest.raises(PuzzleFormatError, match=r"^givens conflict in unit r3: digit 5 appears twice$"):
        parse_puzzle_line("".join(cells), "x")
    cells = ["."] * 81
    cells[4] = cells[76] = "7"  # r1c5 and r9c5
    with pytest.raises(PuzzleFormatError, match=r"^givens conflict in unit c5"):
        parse_puzzle_line("".join(cells), "x")
    cells = ["."] * 81
    cells[0] = cells[20] = "2"  # r1c1 and r3c3
    with pytest.raises(PuzzleFormatError, match=r"^givens conflict in unit b1"):
        parse_puzzle_line("".join(cells), "x")


def test_load_puzzles(tmp_path):
    path = tmp_path / "puzzles.txt"
    fields = ["."] * 256
    fields[0] = "9"
    path.write_text(
        "# test puzzles\n\n"
        f"a {CLASSIC} 1.0\n"
        f"{','.join(fields)}\n"
        "   \n"
        f"{'1..4' + '.' * 12}\n",
        encoding="utf-8",
    )
    puzzles = load_puzzles(path)
    assert [p.id for p in puzzles] == ["puzzles.txt:3", "puzzles.txt:4", "puzzles.txt:6"]
    assert [p.size for p in puzzles] == [9, 16, 4]
    assert puzzles[0].cells == digits(CLASSIC)
    assert load_puzzles(str(path)) == puzzles


def test_load_puzzles_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{CLASSIC}\n# ok\n{CLASSIC[:80]}\n", encoding="utf-8")
    with pytest.raises(PuzzleFormatError) as info:
        load_puzzles(bad)
    assert str(info.value) == f"{bad}:3: expected 16, 81, 256 or 625 cells, got 80"
    missing = tmp_path / "missing.txt"
    with pytest.raises(PuzzleFormatError, match="cannot read puzzle file") as info:
        load_puzzles(missing)
    assert str(info.value).startswith(f"{missing}: ")
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n", encoding="utf-8")
    with pytest.raises(PuzzleFormatError, match="no puzzles found"):
        load_puzzles(empty)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PuzzleFormatError, match="not UTF-8"):
        load_puzzles(binary)
    assert issubclass(PuzzleFormatError, ValueError)
