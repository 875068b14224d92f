"""Baselines and regression checks: a run's per-group summary saved as JSON records, and a
later run compared with it record by record, with a tolerance per metric."""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from mplm_bench.results import ResultsError, read_json_object, read_run_folder
from mplm_bench.tasks.base import TaskInputError

BASELINE_SCHEMA = 1
SOLVED = "solved_pct"  # the one metric where higher is better
COST_METRICS = ("generated_tokens", "prefill_tokens", "kv_copied_tokens", "peak_thread_context",
                "peak_live_kv", "critical_path_tokens", "messages", "threads")
METRICS = (SOLVED, *COST_METRICS)
# the oracle is deterministic, so any drift is a change in the code; model runs are noisier
DEFAULT_TOLERANCE = {"oracle": 0.0, "model": 10.0}  # percent
ALL = "all"
VERDICTS = ("regressed", "missing", "improved", "new", "ok")


@dataclass(frozen=True)
class MetricRecord:
    task: str
    size: int
    paradigm: str
    policy: str
    metric: str
    value: float

    @property
    def key(self) -> tuple:
        return (self.task, self.size, self.paradigm, self.policy, self.metric)


@dataclass(frozen=True)
class Comparison:
    task: str
    size: int
    paradigm: str
    policy: str
    metric: str
    baseline: float | None  # None: the record is new in this run
    now: float | None  # None: the record is missing from this run
    change_pct: float | None  # relative to the baseline; None when undefined
    verdict: str


@dataclass
class RunData:
    rows: list[dict]
    record: dict  # run.json

    @property
    def suite(self) -> str | None:
        return (self.record.get("config") or {}).get("suite")


def _group_key(row: dict) -> tuple:
    return (row.get("task"), row.get("size"), row.get("paradigm"), row.get("policy"))


def _sort_key(key: tuple) -> tuple:
    # sizes are ints in practice; str() keeps sorting total if a row has none
    task, size, paradigm, policy = key
    return (str(task), isinstance(size, str), size if isinstance(size, (int, float)) else str(size),
            str(paradigm), str(policy))


def summarize_for_baseline(rows: list[dict]) -> list[MetricRecord]:
    """Per (task, size, paradigm, policy): solved % and the median of each cost metric."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(_group_key(row), []).append(row)
    records = []
    for key in sorted(groups, key=_sort_key):
        members = groups[key]
        solved = 100.0 * sum(r.get("status") == "solved" for r in members) / len(members)
        records.append(MetricRecord(*key, SOLVED, solved))
        for metric in COST_METRICS:
            values = [r[metric] for r in members if isinstance(r.get(metric), (int, float))]
            if values:  # an older row format may lack a metric: no record rather than a 0
                records.append(MetricRecord(*key, metric, float(statistics.median(values))))
    return records


def load_run(run_dir: Path) -> RunData:
    return RunData(*read_run_folder(run_dir))


def baseline_document(run_dir: Path) -> dict:
    run = load_run(run_dir)
    return {
        "schema_version": BASELINE_SCHEMA,
        "suite": run.suite,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": str(run_dir),
        "versions": run.record.get("versions"),
        "config": run.record.get("config"),
        "metrics": [asdict(record) for record in summarize_for_baseline(run.rows)],
    }


def write_baseline(run_dir: Path, out: Path) -> dict:
    document = baseline_document(run_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # sort_keys keeps diffs of a committed baseline small; metrics keep their sorted order
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"cannot write {out}: {error.strerror or error}") from None
    return document


# what makes two runs' figures comparable: the same instances, budgets and decoding (the
# model may differ: comparing models is what a baseline is for)
SAME_CONFIG_KEYS = ("task", "size", "paradigms", "policy", "instances", "seed", "task_options",
                    "budgets", "temperature", "grammar", "runs")


@dataclass
class Baseline:
    suite: str | None
    records: list[MetricRecord]
    config: dict = field(default_factory=dict)


def config_differences(baseline: Baseline, run: RunData) -> list[str]:
    """'seed 3 (baseline 0)' for each SAME_CONFIG_KEYS entry the two configs disagree on."""
    now = run.record.get("config") or {}
    return [f"{key} {now.get(key)!r} (baseline {baseline.config.get(key)!r})"
            for key in SAME_CONFIG_KEYS if now.get(key) != baseline.config.get(key)]


def load_baseline(path: Path) -> Baseline:
    data = read_json_object(path, required=True)
    if data.get("schema_version") != BASELINE_SCHEMA:
        raise ResultsError(f"{path}: baseline schema_version {data.get('schema_version')!r}, "
                           f"this reader knows {BASELINE_SCHEMA}")
    metrics = data.get("metrics")
    if not isinstance(metrics, list):
        raise ResultsError(f"{path}: 'metrics' must be a list")
    return Baseline(data.get("suite"), [_record(path, n, item) for n, item in enumerate(metrics)],
                    data.get("config") or {})


def _record(path: Path, index: int, item: object) -> MetricRecord:
    names = [f.name for f in fields(MetricRecord)]
    if not isinstance(item, dict) or any(name not in item for name in names):
        raise ResultsError(f"{path}: metrics[{index}] needs the fields {', '.join(names)}")
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{path}: metrics[{index}].value is not a number: {value!r}")
    return MetricRecord(**{name: item[name] for name in names})


def parse_tolerances(specs: list[str]) -> dict[str, float]:
    """`metric=pct` specs (metric may be `all`) as {metric: percent}."""
    tolerances = {}
    for spec in specs:
        metric, sep, text = spec.partition("=")
        metric = metric.strip()
        if not sep or metric not in (*METRICS, ALL):
            raise TaskInputError(f"--tolerance must be METRIC=PERCENT with METRIC one of "
                                 f"{', '.join((*METRICS, ALL))}, got {spec!r}")
        try:
            percent = float(text)
        except ValueError:
            raise TaskInputError(f"--tolerance {spec!r}: {text!r} is not a number") from None
        if not percent >= 0:  # also refuses nan
            raise TaskInputError(f"--tolerance {spec!r}: the percent must be 0 or more")
        tolerances[metric] = percent
    return tolerances


def tolerance_for(record: MetricRecord, overrides: dict[str, float]) -> float:
    """A metric's own override beats `all`, which beats the policy default."""
    if record.metric in overrides:
        return overrides[record.metric]
    if ALL in overrides:
        return overrides[ALL]
    return DEFAULT_TOLERANCE.get(record.policy, DEFAULT_TOLERANCE["model"])


def judge(metric: str, baseline: float, now: float, tolerance: float) -> str:
    """ok / improved / regressed; bounds are relative, so a baseline of 0 allows no rise."""
    upper = baseline * (1 + tolerance / 100)
    lower = baseline * (1 - tolerance / 100)
    if metric == SOLVED:
        return "regressed" if now < lower else "improved" if now > upper else "ok"
    return "regressed" if now > upper else "improved" if now < lower else "ok"


def change_pct(baseline: float, now: float) -> float | None:
    if baseline == 0:
        return 0.0 if now == 0 else None  # a rise from 0 has no finite percentage
    return 100.0 * (now - baseline) / baseline


def compare_records(baseline: list[MetricRecord], run: list[MetricRecord],
                    overrides: dict[str, float]) -> list[Comparison]:
    """Baseline order first (missing ones in place), then records new in this run."""
    now_by_key = {record.key: record for record in run}
    base_keys = {record.key for record in baseline}
    out = []
    for base in baseline:
        now = now_by_key.get(base.key)
        if now is None:
            out.append(Comparison(*base.key, base.value, None, None, "missing"))
            continue
        verdict = judge(base.metric, base.value, now.value, tolerance_for(base, overrides))
        out.append(Comparison(*base.key, base.value, now.value,
                              change_pct(base.value, now.value), verdict))
    out += [Comparison(*r.key, None, r.value, None, "new") for r in run if r.key not in base_keys]
    return out


def check_suite(baseline: Baseline, run: RunData) -> None:
    if baseline.suite != run.suite:
        this = f"suite {run.suite!r}" if run.suite is not None else "no suite"
        raise ResultsError(f"baseline is for suite {baseline.suite!r}, this run is {this}")


def compare_run(run_dir: Path, baseline_path: Path,
                specs: list[str]) -> tuple[list[Comparison], list[str]]:
    """The comparisons, and how the run's config differs from the baseline's."""
    overrides = parse_tolerances(specs)  # a bad spec is refused before any file is read
    baseline = load_baseline(baseline_path)
    run = load_run(run_dir)
    check_suite(baseline, run)
    comparisons = compare_records(baseline.records, summarize_for_baseline(run.rows), overrides)
    return comparisons, config_differences(baseline, run)


def is_regression(comparison: Comparison) -> bool:
    return comparison.verdict in ("regressed", "missing")


def summary_line(comparisons: list[Comparison]) -> str:
    """e.g. '2 regressed, 1 improved, 40 ok; regressed: sudoku n9 mplm model generated_tokens'."""
    counts = {v: sum(c.verdict == v for c in comparisons) for v in VERDICTS}
    line = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "nothing to compare"
    bad = [c for c in comparisons if is_regression(c)]
    if bad:
        line += "; regressed: " + "; ".join(
            f"{c.task} n{c.size} {c.paradigm} {c.policy} {c.metric}"
            + (" (missing)" if c.verdict == "missing" else "") for c in bad)
    return line
