"""What `mplm-bench baseline` and `mplm-bench compare` show: the written baseline, and the
comparison as a Rich table (optionally also a Markdown table for a CI summary)."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from mplm_bench.compare import (Comparison, compare_run, is_regression, summary_line,
                                write_baseline)
from mplm_bench.console import _fmt, stdout
from mplm_bench.results import ResultsError

HEADINGS = ("task", "size", "paradigm", "policy", "metric", "baseline", "now", "change %",
            "verdict")
COLORS = {"regressed": "bold red", "missing": "bold red", "improved": "green", "new": "cyan",
          "ok": "dim"}


def show_baseline(run_dir: Path, out: Path) -> None:
    document = write_baseline(run_dir, out)
    suite = document["suite"] or "no suite"
    stdout.print(f"baseline: {out} ({len(document['metrics'])} records, {suite})",
                 markup=False, highlight=False)


def _value(value: float | None) -> str:
    return "-" if value is None else _fmt(value)


def _change(comparison: Comparison) -> str:
    if comparison.change_pct is None:
        # a rise from a baseline of 0 has no percentage; say so rather than print inf
        return "from 0" if comparison.baseline == 0 and comparison.now else "-"
    return f"{comparison.change_pct:+.1f}"


def _cells(comparison: Comparison) -> list[str]:
    c = comparison
    return [str(c.task), str(c.size), str(c.paradigm), str(c.policy), c.metric,
            _value(c.baseline), _value(c.now), _change(c), c.verdict]


def show_comparison(run_dir: Path, baseline: Path, tolerances: list[str],
                    markdown: Path | None) -> bool:
    """Print the table and the summary; True when anything regressed (the CLI exits 1)."""
    comparisons, differences = compare_run(run_dir, baseline, tolerances)
    summary = summary_line(comparisons)
    if markdown is not None:  # an unwritable file is refused before the table is printed
        write_markdown(comparisons, summary, markdown)
    table = Table(title=f"{run_dir} against {baseline}")
    for heading in HEADINGS:
        table.add_column(heading, justify="right" if heading in ("size", "baseline", "now",
                                                                 "change %") else "left")
    for comparison in comparisons:
        cells = _cells(comparison)
        cells[-1] = f"[{COLORS[comparison.verdict]}]{cells[-1]}[/]"
        table.add_row(*cells)
    stdout.print(table)
    stdout.print(summary, markup=False, highlight=False, soft_wrap=True)  # CI logs grep it
    if differences:
        stdout.print("note: the run's config differs from the baseline's: "
                     + "; ".join(differences), markup=False, highlight=False, soft_wrap=True)
    return any(is_regression(c) for c in comparisons)


def markdown_table(comparisons: list[Comparison], summary: str) -> str:
    lines = ["| " + " | ".join(HEADINGS) + " |",
             "|" + "|".join("---:" if h in ("size", "baseline", "now", "change %") else "---"
                            for h in HEADINGS) + "|"]
    for comparison in comparisons:
        cells = _cells(comparison)
        if is_regression(comparison):
            cells[-1] = f"**{cells[-1]}**"  # stands out in a CI job summary
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + f"\n\n{summary}\n"


def write_markdown(comparisons: list[Comparison], summary: str, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_table(comparisons, summary), encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"cannot write {path}: {error.strerror or error}") from None
