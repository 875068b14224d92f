"""How each paradigm's costs grow with the Sudoku side n: oracle runs at several sizes, a
table of medians and maxima per size, and log-log exponents (cost ~ c * n**k) with 95%
confidence intervals. Everything is computed from saved results rows, never from live
objects, so `write_scaling(out, read_rows(out))` redoes the analysis of a finished run."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mplm_bench.tasks.base import TaskInputError, check_choice

SCALING_FILE = "scaling.csv"
EXPONENTS_FILE = "exponents.csv"
PLOT_FILE = "scaling.png"
# cost columns of scaling.csv (tokens, except messages and threads, which are counts)
SCALING_METRICS = ("peak_thread_context", "peak_live_kv", "total_tokens",
                   "critical_path_tokens", "messages", "threads")
# metrics whose exponent is fitted: always positive, so their logs exist
EXPONENT_METRICS = ("peak_thread_context", "total_tokens", "peak_live_kv",
                    "critical_path_tokens")
CONFIDENCE = 0.95  # two-sided level of the exponent's interval


@dataclass(frozen=True)
class ExponentFit:
    exponent: float  # least-squares slope of log(metric) on log(n)
    lo: float  # lower end of the CONFIDENCE interval (NaN with fewer than 3 points)
    hi: float
    points: int  # runs in the fit; the t-distribution has points - 2 degrees of freedom


@dataclass(frozen=True)
class ScalingTables:
    scaling: pd.DataFrame  # one row per size x paradigm
    exponents: pd.DataFrame  # one row per paradigm x metric


def parse_sizes(text: str, allowed: Sequence[int], least: int = 2) -> list[int]:
    """`4,9,16` -> [4, 9, 16] (sorted, distinct); a slope needs at least two sizes."""
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise TaskInputError(f"--sizes takes comma-separated integers, got {text!r}") from None
    for size in sizes:
        check_choice(size, allowed, "each of --sizes")
    if len(sizes) < least:
        raise TaskInputError(f"--sizes needs at least two sizes to fit an exponent, got {text!r}")
    return sizes


def fit_exponent(n: Sequence[float], values: Sequence[float],
                 confidence: float = CONFIDENCE) -> ExponentFit:
    """Least-squares slope of log(values) against log(n), every run one point, with a
    Student-t interval (points - 2 degrees of freedom; the quantile from scipy.stats)."""
    x, y = np.log(np.asarray(n, dtype=float)), np.log(np.asarray(values, dtype=float))
    points = len(x)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if points < 2 or sxx == 0.0:  # one size only: no slope
        return ExponentFit(math.nan, math.nan, math.nan, points)
    slope = float(dx @ (y - y.mean())) / sxx
    if points < 3:  # a line through two points leaves no residual to estimate error
        return ExponentFit(slope, math.nan, math.nan, points)
    residuals = y - y.mean() - slope * dx
    stderr = math.sqrt(float(residuals @ residuals) / (points - 2) / sxx)
    from scipy import stats  # imported here: it takes a noticeable fraction of a second

    half = float(stats.t.ppf(0.5 + confidence / 2, points - 2)) * stderr
    return ExponentFit(slope, slope - half, slope + half, points)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["total_tokens"] = (frame["generated_tokens"] + frame["prefill_tokens"]
                             + frame["kv_copied_tokens"])
    frame["solved_pct"] = (frame["status"] == "solved") * 100.0
    return frame


def _scaling(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby(["size", "paradigm"], sort=False)
    table = grouped[list(SCALING_METRICS)].agg(["median", "max"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table.insert(0, "solved_pct", grouped["solved_pct"].mean())
    table.insert(1, "runs", grouped.size())
    table = table.reset_index()
    order = {name: k for k, name in enumerate(frame["paradigm"].unique())}
    return table.sort_values(["size", "paradigm"], key=lambda column: column.map(
        order) if column.name == "paradigm" else column, kind="stable").reset_index(drop=True)


def _exponents(frame: pd.DataFrame) -> pd.DataFrame:
    records = []
    for paradigm, runs in frame.groupby("paradigm", sort=False):
        for metric in EXPONENT_METRICS:
            usable = runs[runs[metric] > 0]  # a zero cost (a failed run) has no logarithm
            fit = fit_exponent(usable["size"], usable[metric])
            records.append({"paradigm": paradigm, "metric": metric, "exponent": fit.exponent,
                            "lo": fit.lo, "hi": fit.hi})
    return pd.DataFrame(records, columns=["paradigm", "metric", "exponent", "lo", "hi"])


def scaling_tables(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scaling, exponents) from results rows of one task: medians and maxima per size x
    paradigm, and per paradigm x metric the log-log exponent over all runs."""
    if not rows:
        raise TaskInputError("no results rows to analyze")
    frame = _frame(rows)
    return _scaling(frame), _exponents(frame)


# --- the plot and the files ------------------------------------------------------------

PLOT_PANELS = (("peak_thread_context", "peak thread context (tokens)"),
               ("total_tokens", "total tokens (generated + prefill + KV copied)"))


def plot_scaling(scaling: pd.DataFrame, exponents: pd.DataFrame, path: Path) -> None:
    """Log-log medians against n, a panel per metric, the fitted slope in each label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, (metric, label) in zip(figure.subplots(1, len(PLOT_PANELS)), PLOT_PANELS):
        for paradigm, table in scaling.groupby("paradigm", sort=False):
            fit = exponents[(exponents["paradigm"] == paradigm) & (exponents["metric"] == metric)]
            slope = float(fit["exponent"].iloc[0]) if len(fit) else math.nan
            axes.plot(table["size"], table[f"{metric}_median"], marker="o",
                      label=f"{paradigm} (slope {slope:.2f})")
        axes.set(xscale="log", yscale="log", xlabel="Sudoku side n", ylabel=label,
                 title=f"{metric} (median over runs)")
        sizes = sorted(scaling["size"].unique())
        axes.set_xticks(sizes, [str(size) for size in sizes])
        axes.set_xticks([], minor=True)  # log-scale minor labels (6x10^0) would clutter
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.savefig(path, dpi=120)


def write_scaling(out_dir: Path, rows: list[dict]) -> ScalingTables:
    """Write scaling.csv, exponents.csv and scaling.png into out_dir; returns the tables."""
    scaling, exponents = scaling_tables(rows)
    out_dir = Path(out_dir)
    scaling.to_csv(out_dir / SCALING_FILE, index=False)
    exponents.to_csv(out_dir / EXPONENTS_FILE, index=False)
    plot_scaling(scaling, exponents, out_dir / PLOT_FILE)
    return ScalingTables(scaling, exponents)


# --- the oracle runs ---------------------------------------------------------------------

PARADIGM_NAMES = ("mplm", "cot", "fj")


@dataclass(frozen=True)
class ScalingRun:
    sizes: list[int]  # Sudoku sides n
    instances: int  # puzzles per size; puzzle k uses seed + k
    seed: int
    model: str | None  # its tokenizer counts the tokens; None = the default model
    out: Path


def prepare_sizes(spec: ScalingRun) -> dict[int, list]:
    """Check the folder and the model (bad input fails before any work), then make the
    puzzles of every size: {n: puzzles}."""
    from mplm_bench.runner import prepare_run
    from mplm_bench.tasks.sudoku import SudokuTask

    prepare_run(_config(spec, spec.sizes[0]))
    task = SudokuTask()
    return {size: task.instances(size, spec.instances, spec.seed) for size in spec.sizes}


def run_sizes(spec: ScalingRun, puzzles: dict[int, list], reporter) -> list[dict]:
    """Oracle runs of every paradigm on each size's puzzles, one runner call per size, rows
    appended to spec.out/results.jsonl; rows already there for an instance x paradigm are
    reused (as with --resume). Returns the rows of these runs, read back from the file."""
    from mplm_bench.paradigms import parse_paradigms
    from mplm_bench.runner import prepare_run, run_benchmark
    from mplm_bench.tasks.sudoku import SudokuTask

    task, paradigms = SudokuTask(), parse_paradigms(",".join(PARADIGM_NAMES))
    for size in spec.sizes:
        config = _config(spec, size)
        prepared = _only(prepare_run(config), puzzles[size])
        run_benchmark(task, puzzles[size], paradigms, config, prepared, reporter)
    _write_record(spec, config, prepared.model_path)
    keys = {(p.id, name) for batch in puzzles.values() for p in batch for name in PARADIGM_NAMES}
    return saved_rows(spec.out, keys)


def _only(prepared, puzzles):
    """Keep the rows already written for these puzzles only: the folder also holds the
    other sizes' rows, which this runner call must neither count nor return."""
    ids = {puzzle.id for puzzle in puzzles}
    done = {key: row for key, row in prepared.done.items() if key[0] in ids}
    return replace(prepared, done=done)


def _config(spec: ScalingRun, size: int):
    from mplm_bench.runner import RunConfig

    return RunConfig(task="sudoku", size=size, paradigms=list(PARADIGM_NAMES), policy="oracle",
                     model=spec.model, instances=spec.instances, seed=spec.seed,
                     out=str(spec.out), resume=True)


def _write_record(spec: ScalingRun, config, model_path: Path) -> None:
    """run.json for the whole command: each runner call wrote one naming only its size."""
    from mplm_bench.models import sha256_file
    from mplm_bench.results import write_run_record

    record = {**asdict(config), "size": None, "sizes": list(spec.sizes)}
    write_run_record(Path(spec.out), record,
                     {"path": str(model_path), "sha256": sha256_file(model_path)})


def saved_rows(out: Path, keys: set[tuple[str, str]]) -> list[dict]:
    """Oracle rows of results.jsonl whose (instance_id, paradigm) is in keys, the last
    written winning if a key repeats."""
    from mplm_bench.results import read_rows

    latest = {(row["instance_id"], row["paradigm"]): row for row in read_rows(Path(out))
              if row.get("policy") == "oracle"}
    return [row for key, row in latest.items() if key in keys]
