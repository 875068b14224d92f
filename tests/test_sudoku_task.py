"""Sudoku under the three paradigms with the oracle policy and the real model's tokenizer."""
import re

import pytest

from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, PARADIGMS
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.policies.scripted import ScriptedProgram
from mplm_bench.runner import schedule
from mplm_bench.tasks import sudoku_files
from mplm_bench.tasks import sudoku_grid as grid
from mplm_bench.tasks.sudoku import SudokuTask

TASK = SudokuTask()


def run(puzzle, paradigm, tokenizer, programs=None):
    setup = TASK.setup(puzzle, paradigm)
    policy = OraclePolicy(tokenizer, programs or setup.programs())
    outcome = schedule(setup, paradigm, policy).run()
    answer = setup.answer_from(outcome.answers)
    return outcome, answer is not None and setup.check(answer)


@pytest.mark.parametrize("size", [4, 9, 16])
def test_every_paradigm_solves_with_the_oracle(size, tokenizer):
    puzzle = TASK.instances(size, 1, seed=3)[0]
    peaks = {}
    for paradigm in PARADIGMS.values():
        outcome, correct = run(puzzle, paradigm, tokenizer)
        assert outcome.status is None and correct, (paradigm.name, outcome.detail)
        acc = outcome.accounting
        assert sum(len(t.tokens) for t in outcome.threads) == (
            acc.prefill_tokens + acc.kv_copied_tokens + acc.generated_tokens)
        peaks[paradigm.name] = acc.peak_thread_context
    if size >= 16:  # the O(n) against O(n^2) gap shows once the board outweighs the prompt
        assert peaks["mplm"] < peaks["cot"] < peaks["fj"]


def test_thread_layouts(tokenizer):
    puzzle = TASK.instances(9, 1, seed=5)[0]
    blanks = puzzle.cells.count(0)
    cot, _ = run(puzzle, COT, tokenizer)
    assert len(cot.threads) == 1 and cot.accounting.messages == 0
    fj, _ = run(puzzle, FORK_JOIN, tokenizer)
    assert fj.accounting.kv_copied_tokens > 0 and all(t.end == "return" for t in fj.threads[1:])
    mplm, _ = run(puzzle, MPLM, tokenizer)
    candidates = [t for t in mplm.threads if t.role == "candidate"]
    options = {i: grid.candidates(9, puzzle.cells, i) for i in range(81) if puzzle.cells[i] == 0}
    assert len(candidates) == sum(len(digits) for digits in options.values())
    # one candidate a blank cell answers, the others strike themselves and exit
    assert sum(t.end == "answer" for t in candidates) == blanks
    assert {t.end for t in candidates} <= {"answer", "exit", "cancelled"}
    assert mplm.accounting.kv_copied_tokens == 0


def test_mplm_prompts_hold_what_the_givens_leave():
    """A candidate's prompt holds its cell's candidate count, its strike and its announce
    with its names filled in, and its groups are its cell and its digit in each unit; a
    unit-digit thread's prompt holds how many of the unit's blank cells the givens leave its
    digit; a digit given in a unit has no thread."""
    puzzle = TASK.instances(9, 1, seed=7)[0]
    setup = TASK.setup(puzzle, MPLM)
    names = {grid.cell_name(9, i): i for i in range(81)}
    members = dict(grid.units(9))
    unit_threads, candidates = set(), set()
    for spec in setup.specs:
        assert spec.recv_one
        if spec.role == "candidate":
            cell, digit = spec.name.split("#")
            index = names[cell]
            candidates.add((index, int(digit)))
            options = grid.candidates(9, puzzle.cells, index)
            assert re.search(r"\nleft (\d+)\n$", spec.prompt).group(1) == str(len(options))
            row, col, box = grid.cell_units(9, index)
            assert spec.groups == (cell, f"{row}#{digit}", f"{col}#{digit}", f"{box}#{digit}")
            assert (f"@send {cell},{row}#{digit}n,{col}#{digit}n,{box}#{digit}n {cell}!{digit}, "
                    "then @exit") in spec.prompt
            assert (f"@send {cell},{row}#{digit},{col}#{digit},{box}#{digit} {cell}={digit}, "
                    f"then @answer {digit}") in spec.prompt
            continue
        unit, digit = spec.name.rstrip("n").split("#")
        unit_threads.add((unit, int(digit)))
        assert spec.groups == (f"{unit}#{digit}",)
        opened = [i for i in members[unit] if puzzle.cells[i] == 0
                  and int(digit) in grid.candidates(9, puzzle.cells, i)]
        assert re.search(r"\nopen (\d+)\n$", spec.prompt).group(1) == str(len(opened))
        assert opened  # the solution's cell for the digit is always among them
    assert candidates == {(i, d) for i in range(81) if puzzle.cells[i] == 0
                          for d in grid.candidates(9, puzzle.cells, i)}
    assert unit_threads == {(unit, d) for unit, cells in members.items() for d in range(1, 10)
                            if d not in {puzzle.cells[i] for i in cells}}


def test_a_wrong_answer_is_wrong(tokenizer):
    puzzle = TASK.instances(4, 1, seed=0)[0]
    bad = sudoku_files.format_grid(4, [1] * 16)
    outcome, correct = run(puzzle, COT, tokenizer, {"main": ScriptedProgram([f"@answer {bad}\n"])})
    assert outcome.status is None and not correct


def test_mplm_size_25_beats_both_on_peak_context(tokenizer):
    puzzle = TASK.instances(25, 1, seed=0)[0]
    peaks = {}
    for paradigm in (MPLM, COT):
        outcome, correct = run(puzzle, paradigm, tokenizer)
        assert correct
        peaks[paradigm.name] = outcome.accounting.peak_thread_context
    assert peaks["mplm"] * 2 < peaks["cot"]


def test_singles_programs_end_honestly_on_a_search_puzzle(tokenizer):
    puzzle = TASK.instances(9, 1, seed=2, difficulty="search")[0]
    statuses = {}
    for paradigm in PARADIGMS.values():
        outcome, correct = run(puzzle, paradigm, tokenizer)
        assert not correct
        statuses[paradigm.name] = outcome.status and outcome.status.value
    # candidates and unit-digit threads all wait once singles run dry; CoT and FJ answer a partial grid
    assert statuses == {"mplm": "deadlock", "cot": None, "fj": None}


def test_a_candidate_name_gives_back_its_cell():
    from mplm_bench.tasks.sudoku_oracle import candidate_cell, candidate_name

    assert candidate_name("r12c3", 17) == "r12c3#17"
    assert candidate_cell(candidate_name("r12c3", 17)) == "r12c3"
