"""Suite files: validation (one line, exit 2) and a run whose folder compare accepts."""
import json

import pytest
from typer.testing import CliRunner

from mplm_bench.cli import app
from mplm_bench.suite import SuiteError, load_suite

from cli_checks import one_line_error

RUNNER = CliRunner()
ORACLE_SUITE = """name = "tiny"
[[run]]
task = "sudoku"
sizes = [4]
paradigms = ["mplm", "cot"]
policy = "oracle"
instances = 2
"""


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    (ORACLE_SUITE + "colour = 1\n", "unknown key 'colour'"),
    (ORACLE_SUITE.replace('name = "tiny"', 'name = "tiny"\nflavour = 2'), "unknown key 'flavour'"),
    (ORACLE_SUITE.replace('policy = "oracle"', 'policy = "magic"'), "policy must be model, oracle, replay"),
    (ORACLE_SUITE.replace("instances = 2", "instances = 0"), "instances must be a positive integer"),
    (ORACLE_SUITE.replace('task = "sudoku"', 'task = "chess"'), "task must be one of longqa, sat, sudoku"),
    (ORACLE_SUITE.replace('"cot"', '"tot"'), "unknown paradigm 'tot'"),
    ('name = "x"\n', "needs at least one [[run]] table"),
    ("name = \n", "not valid TOML"),
])
def test_bad_suites_are_one_line_and_exit_2(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(SuiteError, match=words.replace("[", r"\[")):
        load_suite(path)
    one_line_error(RUNNER.invoke(app, ["suite", "run", str(path), "--out", str(tmp_path / "o")]), words)


def test_a_size_the_task_has_not_names_the_entry(tmp_path):
    path = write(tmp_path, ORACLE_SUITE + ORACLE_SUITE.split("\n", 1)[1].replace("[4]", "[4, 7]"))
    one_line_error(RUNNER.invoke(app, ["suite", "run", str(path), "--out", str(tmp_path / "o")]),
                   f"{path}: [[run]] 2, size 7: --size must be one of 4, 9, 16, 25, got 7")
    assert not (tmp_path / "o" / "results.jsonl").exists()  # refused before anything ran


def test_suite_run_then_baseline_then_compare(tmp_path):
    suite, out, baseline = write(tmp_path, ORACLE_SUITE), tmp_path / "run", tmp_path / "b.json"
    assert RUNNER.invoke(app, ["suite", "run", str(suite), "--out", str(out)]).exit_code == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["instance_id"], r["paradigm"]) for r in rows] == [
        ("n4-s0-singles", "mplm"), ("n4-s0-singles", "cot"),
        ("n4-s1-singles", "mplm"), ("n4-s1-singles", "cot")]
    assert json.loads((out / "run.json").read_text())["config"]["suite"] == "tiny"
    assert RUNNER.invoke(app, ["baseline", str(out), "-o", str(baseline)]).exit_code == 0
    again = RUNNER.invoke(app, ["suite", "run", str(suite), "--out", str(out)])  # rows kept, none added
    assert again.exit_code == 0 and len((out / "results.jsonl").read_text().splitlines()) == 4
    compared = RUNNER.invoke(app, ["compare", str(out), "--baseline", str(baseline)])
    assert compared.exit_code == 0 and "regressed" not in compared.output


def test_a_longqa_entry_runs_its_generated_questions(tmp_path):
    path = write(tmp_path, 'name = "qa"\n[[run]]\ntask = "longqa"\nsizes = [1200]\n'
                           'policy = "oracle"\nkind = "vartrack"\nhops = 2\n')
    result = RUNNER.invoke(app, ["suite", "run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    assert [(r["instance_id"], r["status"], r["em"]) for r in rows] == [
        ("vartrack-L1200-k2-h2-s0", "solved", 1.0)] * 3
