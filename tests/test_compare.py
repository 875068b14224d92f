"""`mplm-bench baseline` and `mplm-bench compare` on hand-written results folders."""
import json

from mplm_bench.compare import MetricRecord, summarize_for_baseline
from mplm_bench.results import ROWS_FILE, RUN_FILE

from cli_checks import invoke, one_line_error

COSTS = dict(generated_tokens=100, prefill_tokens=50, kv_copied_tokens=0, peak_thread_context=40,
             peak_live_kv=80, critical_path_tokens=60, messages=4, threads=3)


def row(policy="oracle", paradigm="mplm", status="solved", instance="n4-s0", **costs):
    return dict(task="sudoku", size=4, instance_id=instance, paradigm=paradigm, policy=policy,
                model=None, status=status, correct=status == "solved", wall_s=0.1,
                **{**COSTS, **costs})


def write_run(folder, rows, suite="ci", **config_keys):
    folder.mkdir(parents=True)
    config = {"task": "sudoku", "seed": 0, **config_keys} | ({"suite": suite} if suite else {})
    (folder / RUN_FILE).write_text(json.dumps({"config": config, "versions": {"mplm_bench": "t"}}))
    (folder / ROWS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def baseline_of(tmp_path, rows, suite="ci"):
    out = tmp_path / "baselines" / "ci.json"
    result = invoke("baseline", write_run(tmp_path / "base", rows, suite), "-o", out)
    assert result.exit_code == 0, result.output
    return out


def compare(tmp_path, base_rows, now_rows, *extra, suite="ci", **config_keys):
    baseline = baseline_of(tmp_path, base_rows)
    run = write_run(tmp_path / "now", now_rows, suite, **config_keys)
    return invoke("compare", run, "--baseline", baseline, *extra)


def test_summary_takes_the_median_and_the_solved_percent():
    rows = [row(generated_tokens=10), row(generated_tokens=30, status="failed"),
            row(generated_tokens=20)]
    records = summarize_for_baseline(rows)
    assert MetricRecord("sudoku", 4, "mplm", "oracle", "generated_tokens", 20.0) in records
    solved = [r for r in records if r.metric == "solved_pct"]
    assert [r.value for r in solved] == [100.0 * 2 / 3]


def test_baseline_writes_the_records(tmp_path):
    rows = [row(generated_tokens=10, instance="a"), row(generated_tokens=30, instance="b"),
            row(generated_tokens=20, instance="c"), row(paradigm="cot", messages=0)]
    data = json.loads(baseline_of(tmp_path, rows).read_text())
    assert data["schema_version"] == 1 and data["suite"] == "ci"
    assert data["versions"] == {"mplm_bench": "t"} and data["config"]["suite"] == "ci"
    values = {(m["paradigm"], m["metric"]): m["value"] for m in data["metrics"]}
    assert values[("mplm", "generated_tokens")] == 20.0
    assert values[("cot", "messages")] == 0.0
    assert values[("mplm", "solved_pct")] == 100.0
    assert len(data["metrics"]) == 2 * 9
    # groups sorted: cot before mplm
    assert data["metrics"][0]["paradigm"] == "cot"


def test_identical_rows_are_all_ok(tmp_path):
    rows = [row(), row(paradigm="cot", policy="model")]
    result = compare(tmp_path, rows, rows)
    assert result.exit_code == 0, result.output
    assert "18 ok" in result.output
    assert "regressed" not in result.output and "improved" not in result.output


def test_a_metric_past_its_tolerance_exits_1_and_is_named(tmp_path):
    result = compare(tmp_path, [row()], [row(prefill_tokens=51)])
    assert result.exit_code == 1, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("1 regressed, 8 ok; regressed: ")
    assert "prefill_tokens" in summary


def test_a_lower_cost_is_an_improvement(tmp_path):
    result = compare(tmp_path, [row()], [row(generated_tokens=80)])
    assert result.exit_code == 0, result.output
    assert "1 improved, 8 ok" in result.output


def test_a_lower_solved_percent_is_a_regression_for_the_oracle(tmp_path):
    failed = [row(), row(instance="b", status="failed")]
    result = compare(tmp_path, [row(), row(instance="b")], failed)
    assert result.exit_code == 1
    assert "solved_pct" in result.output.strip().splitlines()[-1]


def test_a_group_gone_from_the_run_is_missing(tmp_path):
    result = compare(tmp_path, [row(), row(paradigm="cot")], [row()])
    assert result.exit_code == 1
    assert "9 missing" in result.output


def test_tolerance_lets_a_small_rise_pass_for_a_model_group(tmp_path):
    base, now = [row(policy="model")], [row(policy="model", generated_tokens=115)]
    assert compare(tmp_path / "a", base, now).exit_code == 1  # 15% > default 10%
    passed = compare(tmp_path / "b", base, now, "--tolerance", "generated_tokens=20")
    assert passed.exit_code == 0, passed.output
    five = [row(policy="model", generated_tokens=105)]
    assert compare(tmp_path / "c", base, five, "--tolerance", "all=5").exit_code == 0
    assert compare(tmp_path / "d", base, five, "--tolerance", "all=4").exit_code == 1


def test_markdown_writes_the_same_table(tmp_path):
    md = tmp_path / "summary.md"
    result = compare(tmp_path, [row()], [row(threads=9)], "--markdown", md)
    assert result.exit_code == 1
    text = md.read_text()
    assert text.startswith("| task | size | paradigm | policy | metric |")
    assert "| sudoku | 4 | mplm | oracle | threads | 3 | 9 | +200.0 | **regressed** |" in text


def test_a_run_with_other_instances_is_compared_with_a_note(tmp_path):
    same = compare(tmp_path / "a", [row()], [row()])
    assert same.exit_code == 0 and "note:" not in same.output
    other = compare(tmp_path / "b", [row()], [row()], seed=3)
    assert other.exit_code == 0
    assert "note: the run's config differs from the baseline's: seed 3 (baseline 0)" in other.output


def test_an_unwritable_markdown_file_is_refused_before_the_table(tmp_path):
    result = compare(tmp_path, [row()], [row()], "--markdown", tmp_path / "base" / RUN_FILE / "x.md")
    one_line_error(result, "cannot write")


def test_a_baseline_from_another_suite_is_refused(tmp_path):
    result = compare(tmp_path, [row()], [row()], suite="nightly")
    one_line_error(result, "baseline is for suite 'ci', this run is suite 'nightly'")


def test_bad_input_is_one_error_line(tmp_path):
    baseline = baseline_of(tmp_path, [row()])
    run = write_run(tmp_path / "now", [row()])
    one_line_error(invoke("compare", tmp_path / "nope", "--baseline", baseline), "nope")
    one_line_error(invoke("compare", run, "--baseline", tmp_path / "x.json"), "x.json")
    one_line_error(invoke("compare", run, "--baseline", baseline, "--tolerance", "speed=5"),
                   "--tolerance")
    one_line_error(invoke("compare", run, "--baseline", baseline, "--tolerance", "all=abc"),
                   "not a number")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    one_line_error(invoke("compare", run, "--baseline", broken), "not valid JSON")
    broken.write_text(json.dumps({"schema_version": 1, "metrics": [{"task": "sudoku"}]}))
    one_line_error(invoke("compare", run, "--baseline", broken), "metrics[0]")
