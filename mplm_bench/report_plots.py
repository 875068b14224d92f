"""The report's figures (matplotlib, Agg, no pyplot state), each returned as PNG bytes.

Every figure is drawn from saved results rows and trace files only.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mplm_bench.report import Image, RunData, Section
from mplm_bench.timeline import build_timeline, end_contexts, plot_timeline

DPI = 100  # 11 in wide figures -> 1100 px, readable in a 1200 px window
LOG_SPAN = 100.0  # a log axis once positive values span two decades
TIMELINE_LANES = 60  # lanes per timeline: more is unreadable
TOKEN_PARTS = [("generated_tokens", "generated"), ("prefill_tokens", "prefill"),
               ("kv_copied_tokens", "KV copied")]


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def spans_decades(values) -> bool:
    positive = [float(v) for v in values if v == v and v > 0]
    return bool(positive) and max(positive) / min(positive) >= LOG_SPAN


def _groups(summary: pd.DataFrame) -> tuple[list[tuple], list[str], list[str]]:
    """(task, size, run) keys with their x labels, and the paradigms in first-seen order."""
    keys = list(dict.fromkeys(zip(summary["task"], summary["size"], summary["run"])))
    several = summary["run"].nunique() > 1
    labels = [f"{t} n={s}" + (f"\n{r}" if several else "") for t, s, r in keys]
    return keys, labels, list(dict.fromkeys(summary["paradigm"]))


def _value(summary: pd.DataFrame, key: tuple, paradigm: str, column: str) -> float:
    task, size, run = key
    hit = summary[(summary["task"] == task) & (summary["size"] == size) &
                  (summary["run"] == run) & (summary["paradigm"] == paradigm)]
    return float(hit[column].iloc[0]) if len(hit) else float("nan")


def grouped_bars(ax, summary: pd.DataFrame, column: str, title: str) -> None:
    """Bars per paradigm within each (task, size, run) group; log y when values span decades."""
    keys, labels, paradigms = _groups(summary)
    width = 0.8 / len(paradigms)
    for k, paradigm in enumerate(paradigms):
        values = [_value(summary, key, paradigm, column) for key in keys]
        x = np.arange(len(keys)) + (k - (len(paradigms) - 1) / 2) * width
        bars = ax.bar(x, values, width, label=paradigm, color=f"C{k}")
        ax.bar_label(bars, labels=[fmt_short(v) for v in values], fontsize=7)
    ax.set_xticks(range(len(keys)), labels)
    ax.set_title(title)
    if spans_decades(summary[column]):
        ax.set_yscale("log")
        ax.set_title(title + " (log)")
    ax.legend(fontsize=8)


def fmt_short(value: float) -> str:
    if value != value:
        return ""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def stacked_tokens(ax, summary: pd.DataFrame) -> None:
    """Per group and paradigm, median generated + prefill + KV-copied tokens: stacked on a
    linear axis; side by side on a log axis (stacked segments there would not be to scale)."""
    keys, labels, paradigms = _groups(summary)
    positions, ticks = [], []
    for g, key in enumerate(keys):
        for k, paradigm in enumerate(paradigms):
            positions.append((g * (len(paradigms) + 1) + k, key, paradigm))
            ticks.append(f"{paradigm}\n{labels[g]}" if k == len(paradigms) // 2 else paradigm)
    x = np.array([x for x, _, _ in positions], dtype=float)
    parts = [np.nan_to_num([_value(summary, key, p, column) for _, key, p in positions])
             for column, _ in TOKEN_PARTS]
    log = spans_decades(np.concatenate(parts))  # then a short part would not show stacked
    width = 0.8 / len(parts) if log else 0.8
    bottom = np.zeros(len(positions))
    for k, (values, (_, label)) in enumerate(zip(parts, TOKEN_PARTS)):
        offset = (k - (len(parts) - 1) / 2) * width if log else 0.0
        ax.bar(x + offset, values, width, bottom=None if log else bottom, label=label,
               color=["tab:blue", "tab:orange", "tab:gray"][k])
        bottom = bottom + values
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set_title("tokens: generated + prefill + KV copied (medians"
                 + (", side by side, log)" if log else ")"))
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def accuracy_image(summary: pd.DataFrame) -> Image:
    figure = Figure(figsize=(11, 3.6))
    ax = figure.subplots()
    grouped_bars(ax, summary, "solved_pct", "solved % by paradigm and size")
    ax.set_yscale("linear")
    ax.set_title("solved % by paradigm and size")
    ax.set_ylim(0, 125)  # room above 100 % for the legend
    ax.legend(loc="upper center", ncol=len(set(summary["paradigm"])), fontsize=8)
    return Image("accuracy", "Accuracy", "share of instances solved (verifier-checked), per "
                 "paradigm, task size and run", png(figure))


def cost_image(summary: pd.DataFrame) -> Image:
    figure = Figure(figsize=(11, 7.5))
    axes = figure.subplot_mosaic([["tokens", "tokens"], ["ctx", "kv"]])
    stacked_tokens(axes["tokens"], summary)
    grouped_bars(axes["ctx"], summary, "peak_thread_context", "peak thread context, tokens")
    grouped_bars(axes["kv"], summary, "peak_live_kv", "peak live KV, tokens")
    figure.tight_layout()
    return Image("costs", "Tokens and context", "medians per instance; a panel uses a log "
                 "scale when its values span two decades or more", png(figure))


def cost_section(summary: pd.DataFrame) -> Section:
    return Section("Accuracy and costs",
                   images=[accuracy_image(summary), cost_image(summary)])


def context_section(runs: list[RunData]) -> Section:
    section = Section("Per-thread context",
                      intro="final context of every thread (tokens, from the traces' end "
                            "events), as a cumulative distribution per paradigm")
    samples = _context_samples(runs)
    if not samples:
        section.notes.append("No traces in these run folders (rerun with --trace to record "
                             "them), so there is no per-thread context distribution.")
        return section
    figure = Figure(figsize=(11, 3.8))
    ax = figure.subplots()
    order = paradigm_order(runs)
    seen: list[str] = []  # a paradigm's second size or run gets the next line style
    for label, values in samples.items():
        paradigm = label.split()[0]
        seen.append(paradigm)
        ordered = np.sort(values)
        # start each curve at 0 so a single thread (CoT) still shows as a step
        x = np.r_[ordered[0], ordered]
        y = np.r_[0.0, np.arange(1, len(ordered) + 1) / len(ordered)]
        ax.step(x, y, where="post", label=f"{label} ({len(ordered)} threads)",
                color=f"C{order.index(paradigm) % 10}",
                linestyle=["-", "--", ":", "-."][(seen.count(paradigm) - 1) % 4],
                marker="o" if len(ordered) <= 5 else None)
    if spans_decades([v for values in samples.values() for v in values]):
        ax.set_xscale("log")
    ax.set_xlabel("final thread context, tokens")
    ax.set_ylabel("fraction of threads ≤ x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    section.images.append(Image("thread_context", "Per-thread context distribution",
                                "cumulative share of threads whose final context is at most "
                                "x tokens, all traced instances", png(figure)))
    return section


def paradigm_order(runs: list[RunData]) -> list[str]:
    """Paradigms as the results list them (mplm, cot, fj): the order and colours of plots."""
    order = list(dict.fromkeys(row["paradigm"] for run in runs for row in run.rows))
    extra = [str(t.header.get("paradigm", "?")) for run in runs for t in run.traces]
    return order + [p for p in dict.fromkeys(extra) if p not in order]


def _context_samples(runs: list[RunData]) -> dict[str, list[int]]:
    """Final contexts keyed by paradigm (and size, run where those vary), in paradigm order."""
    order = paradigm_order(runs)
    traces = [(run.label, t) for run in runs for t in run.traces]
    traces.sort(key=lambda item: order.index(str(item[1].header.get("paradigm", "?"))))
    sizes = {t.header.get("size") for _, t in traces}
    labels = {label for label, _ in traces}
    samples: dict[str, list[int]] = {}
    for label, trace in traces:
        key = str(trace.header.get("paradigm", "?"))
        key += f" n={trace.header.get('size')}" if len(sizes) > 1 else ""
        key += f" [{label}]" if len(labels) > 1 else ""
        samples.setdefault(key, []).extend(end_contexts(trace.events))
    return {key: values for key, values in samples.items() if values}


def timeline_section(runs: list[RunData]) -> Section:
    section = Section("Thread timelines",
                      intro="one traced instance per paradigm (the first trace file of each): "
                            "a lane per thread from spawn to end, arrows from send to "
                            "delivery, fork ▼ and join ■ on the parent's lane, preempted "
                            "threads ✕ (red), answers ★")
    first: dict[str, tuple[str, object]] = {}
    for run in runs:
        for trace in run.traces:
            first.setdefault(str(trace.header.get("paradigm", "?")), (run.label, trace))
    # paradigms in results order (mplm, cot, fj as run), not trace file-name order
    order = paradigm_order(runs)
    first = dict(sorted(first.items(), key=lambda item: order.index(item[0])))
    if not first:
        section.notes.append("No traces in these run folders (rerun with --trace), so there "
                             "are no thread timelines.")
    for paradigm, (label, trace) in first.items():
        section.images.append(_timeline_image(paradigm, label, trace))
    return section


def _timeline_image(paradigm: str, label: str, trace) -> Image:
    whole = build_timeline(trace.events)
    shown = whole.first(TIMELINE_LANES)
    figure = Figure(figsize=(11, min(2.0 + 0.22 * len(shown.lanes), 16)))
    ax = figure.subplots()
    plot_timeline(shown, ax)
    header = trace.header
    ax.set_title(f"{paradigm}: {header.get('instance_id')} ({label}), "
                 f"status {header.get('status')}")
    caption = f"{trace.path.name}: {whole.total_threads} threads, {len(whole.arrows)} deliveries"
    if len(shown.lanes) < whole.total_threads:
        caption += (f"; showing the first {len(shown.lanes)} threads by spawn and only the "
                    "arrows and marks between them")
    return Image(f"timeline_{paradigm}", f"Timeline: {paradigm}", caption, png(figure))
