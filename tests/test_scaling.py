"""`mplm-bench analyze sudoku`: the log-log exponent fit, the files it writes, bad input."""
from mplm_bench.cli import app  # first: it loads llama.cpp before pandas (see cli.py)

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mplm_bench.results import read_rows
from mplm_bench.scaling import (EXPONENT_METRICS, SCALING_METRICS, fit_exponent,
                                scaling_tables)

from cli_checks import one_line_error

RUNNER = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_exact_power_law_gives_its_exponent_and_a_zero_width_interval():
    n = np.repeat([4.0, 9.0, 16.0, 25.0], 3)
    fit = fit_exponent(n, 3 * n ** 1.5)
    assert fit.exponent == pytest.approx(1.5, abs=1e-9)
    assert fit.lo == pytest.approx(fit.exponent, abs=1e-9)
    assert fit.hi == pytest.approx(fit.exponent, abs=1e-9)
    assert fit.points == 12


def test_noisy_power_law_interval_contains_the_true_slope():
    rng = np.random.default_rng(7)
    n = np.repeat([4.0, 9.0, 16.0, 25.0], 5)
    values = 2 * n ** 0.8 * np.exp(rng.normal(0, 0.2, n.size))
    fit = fit_exponent(n, values)
    assert fit.lo < 0.8 < fit.hi
    assert fit.lo < fit.exponent < fit.hi and fit.hi - fit.lo < 0.5


def test_two_points_give_a_slope_without_an_interval_and_one_size_gives_none():
    two = fit_exponent([4, 16], [1, 4])
    assert two.exponent == pytest.approx(1.0) and np.isnan(two.lo) and np.isnan(two.hi)
    assert np.isnan(fit_exponent([9, 9, 9], [1, 2, 3]).exponent)


def test_analyze_writes_tables_plot_and_rows(tmp_path):
    result = RUNNER.invoke(app, ["analyze", "sudoku", "--sizes", "4,9", "--instances", "2",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    scaling = pd.read_csv(tmp_path / "scaling.csv")
    assert list(zip(scaling["size"], scaling["paradigm"])) == [
        (n, p) for n in (4, 9) for p in ("mplm", "cot", "fj")]
    for metric in SCALING_METRICS:
        assert (scaling[f"{metric}_median"] <= scaling[f"{metric}_max"]).all()
    assert (scaling["runs"] == 2).all() and (scaling["solved_pct"] == 100).all()
    exponents = pd.read_csv(tmp_path / "exponents.csv")
    assert list(exponents.columns) == ["paradigm", "metric", "exponent", "lo", "hi"]
    assert sorted(zip(exponents["paradigm"], exponents["metric"])) == sorted(
        (p, m) for p in ("mplm", "cot", "fj") for m in EXPONENT_METRICS)
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "run.json").exists()
    rows = read_rows(tmp_path)
    assert len(rows) == 12
    assert "exponents" in result.output


def test_the_tables_are_recomputed_from_saved_rows(tmp_path):
    assert RUNNER.invoke(app, ["analyze", "sudoku", "--sizes", "4,9", "--instances", "2",
                               "--out", str(tmp_path)]).exit_code == 0
    scaling, exponents = scaling_tables(read_rows(tmp_path))
    pd.testing.assert_frame_equal(scaling, pd.read_csv(tmp_path / "scaling.csv"),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(exponents, pd.read_csv(tmp_path / "exponents.csv"),
                                  check_dtype=False)


@pytest.mark.parametrize("args, words", [
    (["--sizes", "4,10"], "--sizes must be one of 4, 9, 16, 25, got 10"),
    (["--sizes", "x"], "--sizes takes comma-separated integers"),
    (["--sizes", "9"], "at least two sizes"),
    (["--instances", "0"], "--instances must be at least 1"),
])
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, args, words):
    one_line_error(RUNNER.invoke(app, ["analyze", "sudoku", "--out", str(tmp_path), *args]), words)
    assert not (tmp_path / "results.jsonl").exists()


def test_unwritable_out_is_one_error_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = RUNNER.invoke(app, ["analyze", "sudoku", "--sizes", "4,9", "--instances", "1",
                                 "--out", str(blocker / "sub")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write to output folder")
