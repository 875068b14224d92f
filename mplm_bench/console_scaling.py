"""What `mplm-bench analyze sudoku` shows: one progress bar over every size's runs, then
the exponents and the per-size medians as Rich tables."""
from __future__ import annotations

import math
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from mplm_bench.console import RichReporter, _fmt, _progress, stderr, stdout
from mplm_bench.scaling import (EXPONENT_METRICS, EXPONENTS_FILE, PARADIGM_NAMES, PLOT_FILE,
                                SCALING_FILE, SCALING_METRICS, ScalingRun, ScalingTables,
                                parse_sizes, prepare_sizes, run_sizes, write_scaling)
from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.sudoku_grid import SIZES


class SizesReporter(RichReporter):
    """One bar across several runner calls (one per size): each call's begin() counts its
    own runs only, so the bar's total is fixed up front and completed runs carry over."""

    def __init__(self, progress: Progress, total: int):
        super().__init__(progress)
        self.total = total  # runs, all sizes
        self.before = 0  # runs of the sizes already begun

    def begin(self, total: int, done: int) -> None:
        self.progress.update(self.task_id, total=self.total, completed=self.before + done)
        self.before += total


def analyze_and_show(sizes: str, instances: int, model: str | None, seed: int,
                     out: Path) -> None:
    """Check the input, run the oracle at each size, write and show the analysis."""
    if instances < 1:
        raise TaskInputError(f"--instances must be at least 1, got {instances}")
    spec = ScalingRun(parse_sizes(sizes, SIZES), instances, seed, model, out)
    total = len(spec.sizes) * instances * len(PARADIGM_NAMES)
    with stderr.status("checking the folder and the model, making puzzles..."):
        puzzles = prepare_sizes(spec)  # 25 x 25 puzzles take about 2 s each
    with _progress() as progress:
        rows = run_sizes(spec, puzzles, SizesReporter(progress, total))
    tables = write_scaling(out, rows)
    show_scaling(tables)
    stdout.print(f"results: {out}/{{{SCALING_FILE}, {EXPONENTS_FILE}, {PLOT_FILE}, "
                 "results.jsonl}", markup=False, highlight=False)


def show_scaling(tables: ScalingTables) -> None:
    stdout.print(_exponent_table(tables))
    stdout.print(_median_table(tables))


def _exponent_table(tables: ScalingTables) -> Table:
    table = Table(title="log-log exponents k (cost ~ n^k), 95% interval, all runs")
    table.add_column("paradigm")
    for metric in EXPONENT_METRICS:
        table.add_column(metric, justify="right")
    for paradigm, fits in tables.exponents.groupby("paradigm", sort=False):
        by_metric = fits.set_index("metric")
        table.add_row(paradigm, *[_interval(by_metric.loc[m]) for m in EXPONENT_METRICS])
    return table


def _interval(fit) -> str:
    if math.isnan(fit["exponent"]):
        return "-"
    if math.isnan(fit["lo"]):
        return f"{fit['exponent']:.2f}"
    return f"{fit['exponent']:.2f} [{fit['lo']:.2f}, {fit['hi']:.2f}]"


def _median_table(tables: ScalingTables) -> Table:
    table = Table(title="medians per size (tokens unless a count)")
    for heading in ("size", "paradigm", "solved %", "runs", *SCALING_METRICS):
        table.add_column(heading, justify="left" if heading == "paradigm" else "right")
    for record in tables.scaling.to_dict("records"):
        cells = [str(record["size"]), record["paradigm"], _fmt(record["solved_pct"]),
                 str(record["runs"])]
        table.add_row(*cells, *[_fmt(record[f"{m}_median"]) for m in SCALING_METRICS])
    return table
