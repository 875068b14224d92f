"""Tests for mplm_bench.tasks.sudoku_files: text forms, puzzle lines, loader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mplm_bench.tasks.sudoku_files import (
    format_grid,
    format_rows,
    load_puzzles,
    parse_grid,
    parse_puzzle_line,
)
from mplm_bench.tasks.sudoku_grid import SIZES, Puzzle, PuzzleFormatError
from sudoku_cases import CLASSIC, classic, digits


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
