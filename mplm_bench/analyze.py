"""Tables over results rows (pandas)."""
from __future__ import annotations

from dataclasses import fields

import pandas as pd

from mplm_bench.metrics import ResultRow

# (column, heading) of the per-paradigm summary, medians unless named otherwise
SUMMARY_COLUMNS = [
    ("solved_pct", "solved %"),
    ("peak_thread_context", "peak ctx"),
    ("generated_tokens", "generated"),
    ("prefill_tokens", "prefill"),
    ("kv_copied_tokens", "KV copied"),
    ("critical_path_tokens", "critical path"),
    ("threads", "threads"),
    ("messages", "messages"),
    ("wall_s", "wall s"),
]


ROW_COLUMNS = {f.name for f in fields(ResultRow)}


def extra_columns(rows: list[dict]) -> list[str]:
    """Columns the summary adds when rows have them: the tasks' own metrics (em, f1, ...)
    and protocol_repairs where a tolerant parse repaired anything; means per group."""
    names = [name for row in rows for name in row if name not in ROW_COLUMNS]
    if any(row.get("protocol_repairs") for row in rows):
        names.append("protocol_repairs")
    return list(dict.fromkeys(names))


def summarize(rows: list[dict]) -> pd.DataFrame:
    """One row per (task, size, policy, paradigm): solved % and medians of the cost metrics."""
    frame = pd.DataFrame(rows)
    frame["solved_pct"] = (frame["status"] == "solved") * 100.0
    metrics = [name for name, _ in SUMMARY_COLUMNS]
    grouped = frame.groupby(["task", "size", "policy", "paradigm"], sort=False)
    table = grouped[metrics].median()
    table["solved_pct"] = grouped["solved_pct"].mean()
    for name in extra_columns(rows):
        table[name] = grouped[name].mean()
    table["runs"] = grouped.size()
    table["statuses"] = grouped["status"].agg(lambda s: ", ".join(
        f"{name} {count}" for name, count in s.value_counts().items()))
    return table.reset_index()
