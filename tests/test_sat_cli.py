"""`mplm-bench run sat` and SAT suite entries as a user meets them."""
import json
from pathlib import Path

import pytest

from mplm_bench.results import ROWS_FILE

from cli_checks import invoke, one_line_error

DATA = Path(__file__).parent / "data"


def rows(out):
    return [json.loads(line) for line in (out / ROWS_FILE).read_text().splitlines()]


def test_oracle_run_writes_sat_rows_with_task_metrics(tmp_path):
    result = invoke("run", "sat", "--vars", 12, "--instances", 2, "--satisfiable", "yes",
                    "--policy", "oracle", "--out", tmp_path / "o", "--save-cnf", tmp_path / "cnf")
    assert result.exit_code == 0, result.output
    found = rows(tmp_path / "o")
    assert [(r["paradigm"], r["size"], r["status"]) for r in found] == [
        (p, 12, "solved") for _ in range(2) for p in ("mplm", "cot", "fj")]
    for row in found:
        assert {"tokens_after_solution", "stopped_searches", "decisions", "conflicts"} <= set(row)
        assert row["tokens_after_solution"] == 0 or row["paradigm"] != "cot"
    saved = sorted(p.stem for p in (tmp_path / "cnf").glob("*.cnf"))
    assert saved == sorted({r["instance_id"] for r in found})
    # the saved files run again as --instances-file and give the same rows
    again = invoke("run", "sat", "--instances-file", tmp_path / "cnf", "--instances", 2,
                   "--policy", "oracle", "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    same = {(r["instance_id"], r["paradigm"]): r["generated_tokens"] for r in found}
    assert {(r["instance_id"], r["paradigm"]): r["generated_tokens"]
            for r in rows(tmp_path / "again")} == same


def test_reads_a_folder_of_satlib_files(tmp_path):
    result = invoke("run", "sat", "--instances-file", DATA, "--instances", 5, "--paradigms", "cot",
                    "--policy", "oracle", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert [(r["instance_id"], r["size"], r["correct"]) for r in rows(tmp_path)] == [
        ("uf20-91-sample", 20, True), ("uf50-218-sample", 50, True)]


@pytest.mark.parametrize("text, words", [
    ("c bad\np cnf 3 1\n1 5 0\n", "bad.cnf:3: literal 5 out of range 1..3"),
    ("1 2 3 0\n", "bad.cnf:1: clause before the 'p cnf"),
    ("p cnf 3 1\n1 x 0\n", "bad.cnf:2: 'x' is not an integer"),
])
def test_a_malformed_cnf_is_one_line_and_exit_2(tmp_path, text, words):
    bad = tmp_path / "bad.cnf"
    bad.write_text(text)
    one_line_error(invoke("run", "sat", "--instances-file", bad, "--policy", "oracle",
                          "--out", tmp_path / "o"), words)


@pytest.mark.parametrize("args, words", [
    (["--split", "9"], "--split must be 1..6"),
    (["--satisfiable", "maybe"], "--satisfiable must be one of yes, no, any"),
    (["--vars", "2"], "--vars must be at least 3"),
    (["--instances-file", "/nonexistent.cnf"], "CNF file not found"),
])
def test_bad_sat_options(tmp_path, args, words):
    one_line_error(invoke("run", "sat", "--policy", "oracle", "--out", tmp_path / "o", *args), words)


def test_tasks_lists_sat():
    assert "mplm-bench run sat --vars N" in invoke("tasks").output


def test_a_suite_runs_sat_entries(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\n[[run]]\ntask = "sat"\nsizes = [10, 12]\npolicy = "oracle"\n'
                     'instances = 1\nsplit = 1\nsatisfiable = "no"\n')
    result = invoke("suite", "run", suite, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    found = rows(tmp_path / "o")
    assert [(r["size"], r["paradigm"], r["status"]) for r in found] == [
        (n, p, "solved") for n in (10, 12) for p in ("mplm", "cot", "fj")]
    assert all(r["threads"] == {"mplm": 3, "cot": 1, "fj": 3}[r["paradigm"]] for r in found)
