"""`mplm-bench report`: an HTML or Markdown report built only from saved run folders.

Inputs per folder: run.json, results.jsonl and optionally traces/*.jsonl. Nothing here
touches live runtime objects, so any table or figure can be redrawn from the files later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mplm_bench.results import TRACES_DIR, ResultsError, read_run_folder, read_trace
from mplm_bench.analyze import extra_columns
from mplm_bench.tasks.base import TaskInputError

SUFFIXES = (".html", ".md")
# medians per (run, task, size, paradigm); solved % and runs are computed apart
MEDIAN_FIELDS = ["generated_tokens", "prefill_tokens", "kv_copied_tokens", "peak_thread_context",
                 "peak_live_kv", "critical_path_tokens", "threads", "messages", "wall_s"]
MEAN_SUFFIX = " (mean)"  # the tasks' own metrics (em, f1, tokens_after_solution, ...) and preempted


@dataclass
class Trace:
    path: Path
    header: dict
    events: list[dict]


@dataclass
class RunData:
    """One run folder as saved on disk."""
    path: Path
    label: str  # column heading: the folder name, made unique among the runs
    record: dict  # run.json ({} when missing)
    rows: list[dict]
    traces: list[Trace] = field(default_factory=list)  # sorted by file name


@dataclass
class Table:
    title: str
    frame: pd.DataFrame  # cells already formatted as strings; the index is the row label
    text: bool = False  # words rather than numbers: left-aligned


@dataclass
class Image:
    name: str  # file stem for the Markdown folder
    title: str
    caption: str
    png: bytes


@dataclass
class Section:
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a plot is missing


@dataclass
class Report:
    title: str
    runs: list[str]  # folder paths as given
    sections: list[Section]


def check_output(out: Path) -> None:
    if out.suffix.lower() not in SUFFIXES:
        raise TaskInputError(f"report output must end in .html or .md, got {out.name!r}")


def load_run(path: Path, label: str) -> RunData:
    rows, record = read_run_folder(path)
    traces = [Trace(p, *read_trace(p)) for p in sorted((path / TRACES_DIR).glob("*.jsonl"))]
    return RunData(path, label, record, rows, traces)


def run_labels(paths: list[Path]) -> list[str]:
    """Folder names, with a #k suffix where two runs share a name."""
    names = [p.resolve().name or str(p) for p in paths]
    return [name if names.count(name) == 1 else f"{name} #{k + 1}" for k, name in enumerate(names)]


def load_runs(paths: list[Path]) -> list[RunData]:
    if not paths:
        raise TaskInputError("give at least one run folder")
    return [load_run(p, label) for p, label in zip(paths, run_labels(paths))]


def summary_long(runs: list[RunData]) -> pd.DataFrame:
    """One row per (run, task, size, paradigm): solved %, runs, and medians of MEDIAN_FIELDS."""
    frames = []
    for run in runs:
        frame = pd.DataFrame(run.rows)
        frame["run"] = run.label
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    for name in MEDIAN_FIELDS:  # an older results file may lack a field
        if name not in frame:
            frame[name] = float("nan")
    frame["solved_pct"] = (frame["status"] == "solved") * 100.0
    grouped = frame.groupby(["task", "size", "run", "paradigm"], sort=False)
    table = grouped[MEDIAN_FIELDS].median()
    table.insert(0, "solved_pct", grouped["solved_pct"].mean())
    table.insert(1, "runs", grouped.size())
    means = ["preempted", *extra_columns([row for run in runs for row in run.rows])]
    for name in dict.fromkeys(means):
        if name in frame:
            table[name + MEAN_SUFFIX] = grouped[name].mean()
    return table.reset_index()


def fmt(value) -> str:
    """Integers with thousands separators; small fractions with two decimals."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, str):
        return value
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 100 or value.is_integer() else f"{value:.2f}"


def summary_tables(summary: pd.DataFrame) -> list[Table]:
    """A table per task x size: metrics as rows, paradigms (per run if several) as columns."""
    tables = []
    for (task, size), group in summary.groupby(["task", "size"], sort=False):
        several = group["run"].nunique() > 1
        means = [name for name in group if name.endswith(MEAN_SUFFIX) and group[name].notna().any()]
        columns = {}
        for record in group.to_dict("records"):
            heading = f"{record['paradigm']} [{record['run']}]" if several else record["paradigm"]
            columns[heading] = [fmt(record["solved_pct"]), fmt(record["runs"])] + [
                fmt(record[name]) for name in MEDIAN_FIELDS + means]
        index = pd.Index(["solved %", "runs", *MEDIAN_FIELDS, *means], name="metric")
        source = "" if several else f" ({group['run'].iloc[0]})"
        tables.append(Table(f"{task}, size {size}{source}", pd.DataFrame(columns, index=index)))
    return tables


def config_table(runs: list[RunData]) -> Table:
    """Each run's configuration side by side: one column per run folder."""
    columns = {run.label: _config_column(run.record, run.rows) for run in runs}
    index = pd.Index(["task", "size", "paradigms", "policy", "model", "sha256", "seed",
                      "instances", "rows", "budgets", "versions", "git commit", "created"],
                     name="setting")
    return Table("run configurations", pd.DataFrame(columns, index=index), text=True)


def _config_column(record: dict, rows: list[dict]) -> list[str]:
    config = record.get("config") or {}
    model = record.get("model") or {}
    first = rows[0]

    def joined(mapping) -> str:
        return ", ".join(f"{k} {v}" for k, v in (mapping or {}).items()) or "—"

    return [
        str(config.get("task", first.get("task", "—"))),
        str(config.get("size", first.get("size", "—"))),
        ", ".join(config.get("paradigms") or dict.fromkeys(r["paradigm"] for r in rows)),
        str(config.get("policy", first.get("policy", "—"))),
        Path(model["path"]).name if model.get("path") else str(first.get("model", "—")),
        (model.get("sha256") or "—")[:12],
        fmt(record.get("seed", first.get("seed"))),
        fmt(config.get("instances", len({r["instance_id"] for r in rows}))),
        fmt(len(rows)),
        joined(config.get("budgets")),
        joined(record.get("versions")),
        (record.get("git_commit") or "—")[:12],
        str(record.get("created", "—")),
    ]


def build_report(paths: list[Path]) -> Report:
    from mplm_bench import report_plots as plots

    runs = load_runs(paths)
    summary = summary_long(runs)
    sections = [
        Section("Runs", tables=[config_table(runs)]),
        Section("Results by task and size",
                intro="solved % over instances; other rows are medians per instance of the "
                      "results.jsonl fields (tokens, ticks = decode steps, seconds).",
                tables=summary_tables(summary)),
        plots.cost_section(summary),
        plots.context_section(runs),
        plots.timeline_section(runs),
    ]
    return Report("mplm-bench report", [str(p) for p in paths], sections)


def write_report(paths: list[Path], out: Path) -> Path:
    """Check the output name, read the runs, write out (.html or .md); return out."""
    from mplm_bench import report_render

    check_output(out)
    report = build_report(paths)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".html":
            out.write_text(report_render.to_html(report), encoding="utf-8")
        else:
            report_render.write_markdown(report, out)
    except OSError as error:
        raise ResultsError(f"cannot write report {out}: {error.strerror or error}") from None
    return out
