"""3-SAT: generator, DIMACS files, verifier, DPLL oracles of the three paradigms, metrics."""
from pathlib import Path

import pytest

from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, PARADIGMS
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.policies.scripted import CharTokenizer
from mplm_bench.runner import schedule
from mplm_bench.tasks import sat_generate
from mplm_bench.tasks.sat import SatInstance, SatTask, check_answer, split_variables
from mplm_bench.tasks.sat_cnf import (CnfFormatError, Formula, format_cnf, parse_cnf, read_cnf,
                                      satisfies)
from mplm_bench.tasks.sat_oracle import solve_text

DATA = Path(__file__).parent / "data"


# ---- generator ------------------------------------------------------------------------------
def test_generator_is_seeded_uniform_3sat_without_repeats():
    formula = sat_generate.random_3sat(20, 4.26, seed=5)
    assert formula == sat_generate.random_3sat(20, 4.26, seed=5)
    assert formula != sat_generate.random_3sat(20, 4.26, seed=6)
    assert formula.num_vars == 20 and len(formula.clauses) == 85  # round(4.26 * 20)
    assert all(len({abs(lit) for lit in c}) == 3 and all(1 <= abs(lit) <= 20 for lit in c)
               for c in formula.clauses)
    assert len({frozenset(c) for c in formula.clauses}) == 85


@pytest.mark.parametrize("wanted", ["yes", "no"])
def test_the_filter_takes_the_first_draw_pysat_agrees_with(wanted):
    for seed in range(3):
        drawn = sat_generate.draw(20, 4.26, seed, wanted)
        assert drawn.formula == sat_generate.random_3sat(20, 4.26, seed, drawn.attempt)
        assert sat_generate.is_satisfiable(drawn.formula) == (wanted == "yes")
        for attempt in range(drawn.attempt):  # every earlier draw had the other answer
            earlier = sat_generate.random_3sat(20, 4.26, seed, attempt)
            assert sat_generate.is_satisfiable(earlier) != (wanted == "yes")


def test_generated_instance_ids_name_the_draw():
    found = SatTask().instances(20, 2, seed=3, satisfiable="no")
    assert [i.id for i in found] == [
        f"v20-r4.26-s{3 + k}.{sat_generate.draw(20, 4.26, 3 + k, 'no').attempt}" for k in range(2)]
    assert all(i.size == 20 and i.satisfiable is False for i in found)


# ---- DIMACS -------------------------------------------------------------------------------------
def test_dimacs_round_trip():
    formula = sat_generate.random_3sat(30, 4.26, seed=1)
    text = format_cnf(formula, ("made by a test",))
    assert text.startswith("c made by a test\np cnf 30 128\n")
    assert parse_cnf(text) == formula


@pytest.mark.parametrize("name, num_vars, num_clauses", [("uf20-91-sample", 20, 91),
                                                          ("uf50-218-sample", 50, 218)])
def test_reads_satlib_uniform_files(name, num_vars, num_clauses):
    formula = read_cnf(DATA / f"{name}.cnf")  # comments, 'p cnf 20  91 ', '%' and '0' at the end
    assert formula.num_vars == num_vars and len(formula.clauses) == num_clauses
    assert all(len(c) == 3 for c in formula.clauses)


def test_first_clause_of_the_fixture():
    assert read_cnf(DATA / "uf20-91-sample.cnf").clauses[0] == (-14, -1, 11)


def test_clauses_may_span_lines_and_share_them():
    formula = parse_cnf("p cnf 3 2\n1 -2\n 3 0 -1 2 0\n")
    assert formula == Formula(3, ((1, -2, 3), (-1, 2)))


@pytest.mark.parametrize("text, message", [
    ("1 2 0\n", "x.cnf:1: clause before the 'p cnf"),
    ("c only a comment\n", "x.cnf: no 'p cnf"),
    ("p cnf 3\n1 0\n", "x.cnf:1: header must be"),
    ("p cnf 3 1\n1 4 0\n", "x.cnf:2: literal 4 out of range 1..3"),
    ("p cnf 3 1\nc fine\n1 two 0\n", "x.cnf:3: 'two' is not an integer"),
    ("p cnf 3 2\n1 2 0\n", "x.cnf: header says 2 clauses, found 1"),
    ("p cnf 3 1\n0\n", "x.cnf:2: empty clause"),
    ("p cnf 3 1\n1 2 3\n", "x.cnf:2: last clause does not end with 0"),
])
def test_malformed_cnf_names_file_and_line(text, message):
    with pytest.raises(CnfFormatError) as error:
        parse_cnf(text, "x.cnf")
    assert str(error.value).startswith(message)


# ---- verifier ------------------------------------------------------------------------------------
def test_verifier():
    sat = SatInstance("s", 3, Formula(3, ((1, 2), (-1, 3))))
    unsat = SatInstance("u", 1, Formula(1, ((1,), (-1,))))
    assert check_answer(sat, "SAT 1 3") and check_answer(sat, " SAT -1 2 -3 ")
    assert not check_answer(sat, "SAT 1")  # (-1 3) is not satisfied
    assert not check_answer(sat, "SAT 1 -1 3")  # x1 both ways
    assert not check_answer(sat, "SAT 1 3 4")  # no x4
    assert not check_answer(sat, "UNSAT") and check_answer(unsat, "UNSAT")
    assert not check_answer(sat, "1 3") and not check_answer(sat, "SAT one")


# ---- DPLL and the three paradigms -----------------------------------------------------------------
def test_dpll_agrees_with_pysat():
    for seed in range(40):
        formula = sat_generate.random_3sat(12 + seed % 20, 4.26, seed)
        trace, result = solve_text(formula)
        assert (result != "UNSAT") == sat_generate.is_satisfiable(formula), seed
        if result != "UNSAT":
            assert satisfies(formula, {int(w) for w in result.split()[1:]})
        assert trace.count("backtrack ") <= trace.count("decide ")


def run(task, instance, paradigm, tokenizer):
    setup = task.setup(instance, paradigm)
    outcome = schedule(setup, paradigm, OraclePolicy(tokenizer, setup.programs())).run()
    answer = setup.answer_from(outcome.answers)
    correct = outcome.status is None and answer is not None and setup.check(answer)
    return outcome, answer, correct, setup.task_metrics(outcome, answer)


@pytest.mark.parametrize("satisfiable", ["yes", "no"])
def test_every_paradigm_is_correct_with_the_oracle(satisfiable, tokenizer):
    task = SatTask()
    for instance in task.instances(20, 3, seed=0, satisfiable=satisfiable):
        for paradigm in PARADIGMS.values():
            outcome, answer, correct, _ = run(task, instance, paradigm, tokenizer)
            assert correct, (instance.id, paradigm.name, outcome.detail)
            assert (answer == "UNSAT") == (satisfiable == "no")
            acc = outcome.accounting
            assert sum(len(t.tokens) for t in outcome.threads) == (
                acc.prefill_tokens + acc.kv_copied_tokens + acc.generated_tokens)


def test_thread_layouts(tokenizer):
    task = SatTask(split=3)
    instance = task.instances(20, 1, seed=0, satisfiable="no")[0]
    fj, *_ = run(task, instance, FORK_JOIN, tokenizer)
    assert [t.end for t in fj.threads] == ["answer"] + ["return"] * 8
    mplm, *_ = run(task, instance, MPLM, tokenizer)
    assert [t.name for t in mplm.threads] == [f"b{k}" for k in range(8)] + ["coord"]
    assert all(t.end == "exit" and not t.preempted for t in mplm.threads[:8])
    assert mplm.accounting.messages == 8  # one UNSAT per branch to the coordinator


def test_split_variables_are_the_most_frequent():
    formula = Formula(4, ((1, 2, 3), (-2, 3, 4), (2, -3, 4), (2, 4, 1)))
    assert split_variables(formula, 2) == (2, 3)  # 2 occurs 4 times, 3 and 4 three: 3 first


def test_a_model_stops_the_peers_of_its_finder(tokenizer):
    task = SatTask()
    stopped = 0
    for instance in task.instances(20, 11, seed=0, satisfiable="yes"):
        mplm, _, correct, metrics = run(task, instance, MPLM, tokenizer)
        assert correct
        preempted = [t for t in mplm.threads if t.preempted]
        assert all(t.role == "branch" and t.end == "exit" for t in preempted)
        for branch in preempted:
            written = tokenizer.decode(list(branch.tokens[branch.prompt_tokens:]))
            last_insert = written.rsplit("<< ", 1)[1]
            assert last_insert.startswith(("b0: SAT", "b1: SAT", "b2: SAT", "b3: SAT"))
            assert last_insert.endswith("\n@exit\n")
            # either stopped mid-search, or its own model had crossed a peer's
            stopped += "@send" not in written
        assert metrics["stopped_searches"] == sum(
            "@send" not in tokenizer.decode(list(t.tokens[t.prompt_tokens:])) for t in preempted)
        assert metrics["stopped_searches"] <= len(preempted)
    assert stopped > 0


# x1 is forced true: branch x1=T is satisfied at once, branch x1=F needs a search
FORCED = SatInstance("forced", 3, Formula(3, ((1, 2, 3), (1, -2, 3), (1, 2, -3), (1, -2, -3))))


def test_tokens_after_solution_is_exact_on_a_tiny_formula():
    task = SatTask(split=1)
    tokens = CharTokenizer()  # one token a character
    mplm, answer, correct, metrics = run(task, FORCED, MPLM, tokens)
    assert correct and answer == "SAT 1"
    # coord: '@recv\n' (6) by tick 6, blocks. b0: '@send b1,coord SAT 1\n' (21) at tick 21:
    # the find. b1: 'decide x2=T\nx3=T by c2\nconflict c4\n@poll\n' (41) would end at 41.
    # After the find: b0 '@exit\n' (6, ticks 22-27), coord '@answer SAT 1\n' (14, ticks
    # 22-35), which ends the run: b1 is cut off at 35 with 14 of its tokens after the find
    # (decisions and conflicts count completed segments only: none here)
    assert metrics == {"tokens_after_solution": 6 + 14 + 14, "stopped_searches": 0,
                       "decisions": 0, "conflicts": 0}
    assert mplm.ticks == 35 and mplm.accounting.generated_tokens == 6 + 21 + 6 + 14 + 35
    fj, answer, correct, metrics = run(task, FORCED, FORK_JOIN, tokens)
    assert correct and answer == "SAT 1"
    # root '@fork assume x1=T | assume x1=F\n' (32) at tick 32; child 0 '@return SAT 1\n'
    # (14) at 46: the find; child 1 writes 'decide x2=T\nx3=T by c2\nconflict c4\n
    # backtrack x2=F\nx3=T by c1\nconflict c3\n@return UNSAT\n' (87) until 119, 73 of it
    # after 46; then the root's '@answer SAT 1\n' (14)
    assert metrics == {"tokens_after_solution": 73 + 14, "stopped_searches": 0,
                       "decisions": 1, "conflicts": 2}
    cot, answer, correct, metrics = run(task, FORCED, COT, tokens)
    assert correct and answer == "SAT 1" and metrics["tokens_after_solution"] == 0
