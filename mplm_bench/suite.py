"""Benchmark suites: a TOML file names tasks, sizes, paradigms, policy, model, instance
counts, seeds and budgets; `mplm-bench suite run FILE --out DIR` runs every entry into one
results folder, which `compare` checks against a recorded baseline.

    name = "ci"
    [[run]]
    task = "sudoku"
    sizes = [4, 9]
    paradigms = ["mplm", "cot", "fj"]   # default: all three
    policy = "oracle"                   # or "model"
    instances = 2
    seed = 0
    max_tokens = 64                     # budgets: max_tokens, window, max_threads,
                                        # max_live_kv, timeout (for max_tokens, window and
                                        # max_live_kv 0 means the model's default)
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mplm_bench.paradigms import PARADIGMS
from mplm_bench.results import RUN_FILE
from mplm_bench.runner import POLICIES
from mplm_bench.tasks.base import TaskInputError

TOP_KEYS = {"name", "description", "run"}
RUN_KEYS = {"task", "sizes", "paradigms", "policy", "model", "instances", "seed", "difficulty",
            "max_tokens", "window", "max_threads", "max_live_kv", "timeout", "seq_max",
            "threads", "kind", "hops", "chunks", "ratio", "split", "satisfiable"}
TASKS = {"sudoku", "sat", "longqa"}  # sizes: sudoku side n; sat variables; longqa tokens
TOLERANT_TASKS = {"longqa"}  # tasks whose runs read actions tolerantly (prompted models)


class SuiteError(TaskInputError):
    """A suite file that cannot be run: one line, exit 2."""


@dataclass(frozen=True)
class SuiteRun:
    task: str
    sizes: list[int]
    paradigms: list[str] = field(default_factory=lambda: list(PARADIGMS))
    policy: str = "oracle"
    model: str | None = None
    instances: int = 1
    seed: int = 0
    difficulty: str = "singles"
    ratio: float = 4.26  # sat: clauses per variable (sizes are variable counts)
    split: int = 2  # sat: FJ/MPLM branch on 2^split assignments
    satisfiable: str = "any"  # sat: yes, no or any
    max_tokens: int = 0  # 0: the policy's default
    window: int = 0
    max_threads: int = 20000
    max_live_kv: int = 0  # tokens; 0: the model's default
    timeout: float = 600.0  # seconds per run
    seq_max: int = 16
    threads: int = 0  # CPU threads for llama.cpp, 0 = all
    kind: str = "multihop"  # longqa: needle, vartrack or multihop
    hops: int = 2  # longqa
    chunks: int = 0  # longqa: 0 = one per 1000 tokens


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    runs: list[SuiteRun]


def load_suite(path: Path) -> Suite:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SuiteError(f"cannot read suite file {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: not valid TOML: {error}") from None
    _no_unknown(data, TOP_KEYS, f"{path}")
    runs = data.get("run")
    if not isinstance(runs, list) or not runs:
        raise SuiteError(f"{path}: needs at least one [[run]] table")
    name = data.get("name", Path(path).stem)
    return Suite(str(name), str(data.get("description", "")),
                 [_run(entry, f"{path}: [[run]] {k}") for k, entry in enumerate(runs, 1)])


def _no_unknown(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SuiteError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")


def _run(entry: dict, where: str) -> SuiteRun:
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: must be a table")
    _no_unknown(entry, RUN_KEYS, where)
    if entry.get("task") not in TASKS:
        raise SuiteError(f"{where}: task must be one of {', '.join(sorted(TASKS))}, "
                         f"got {entry.get('task')!r}")
    try:
        run = SuiteRun(**entry)
    except TypeError as error:
        raise SuiteError(f"{where}: {error}") from None
    _check_values(run, where)
    return run


def _check_values(run: SuiteRun, where: str) -> None:
    def fail(text: str):
        raise SuiteError(f"{where}: {text}")

    if not isinstance(run.sizes, list) or not run.sizes or not all(isinstance(n, int) for n in run.sizes):
        fail(f"sizes must be a list of integers, got {run.sizes!r}")
    bad = [p for p in run.paradigms if p not in PARADIGMS]
    if bad:
        fail(f"unknown paradigm {bad[0]!r}")
    if run.policy not in POLICIES:
        fail(f"policy must be {', '.join(POLICIES)}, got {run.policy!r}")
    if not isinstance(run.ratio, (int, float)) or isinstance(run.ratio, bool):
        fail(f"ratio must be a number, got {run.ratio!r}")
    for key in ("instances", "seed", "max_tokens", "window", "max_threads", "max_live_kv",
                "seq_max", "threads", "hops", "chunks", "split"):
        value = getattr(run, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "instances" else 0):
            fail(f"{key} must be a {'positive' if key == 'instances' else 'non-negative'} integer, "
                 f"got {value!r}")


def run_configs(suite: Suite, out: Path):
    """(entry number, entry, runner config) per suite entry and size, all writing into `out`."""
    from mplm_bench.models import run_defaults
    from mplm_bench.runner import RunConfig, policy_budgets

    for number, run in enumerate(suite.runs, 1):  # budgets as `run` sets them for the same model
        budgets = policy_budgets(run.policy, run.max_tokens, run.window, run.max_threads,
                                 run.timeout, run_defaults(run.model, run.task), run.max_live_kv)
        for size in run.sizes:
            yield number, run, RunConfig(
                task=run.task, size=size, paradigms=list(run.paradigms), policy=run.policy,
                model=run.model, instances=run.instances, seed=run.seed, out=str(out),
                resume=True, budgets=budgets, suite=suite.name, tolerant=run.task in TOLERANT_TASKS,
                task_options=_task_options(run),
                backend=dict(n_seq_max=run.seq_max, n_threads=run.threads))


def _task_options(run: SuiteRun) -> dict:
    if run.task == "sat":
        return {"ratio": run.ratio, "split": run.split, "satisfiable": run.satisfiable}
    if run.task == "longqa":
        return {"kind": run.kind, "hops": run.hops, "chunks": run.chunks or None}
    return {"difficulty": run.difficulty}


def suite_task(run: SuiteRun, config, where: str) -> tuple:
    """The task of one suite entry and size, and its instances; a bad value (a size the
    task has not) names the entry, as load_suite's errors do."""
    try:
        return _task_and_instances(run, config)
    except SuiteError:
        raise
    except TaskInputError as error:
        raise SuiteError(f"{where}, size {config.size}: {error}") from None


def _task_and_instances(run: SuiteRun, config) -> tuple:
    if run.task == "longqa":
        from mplm_bench.backends.llamacpp_load import load_tokenizer
        from mplm_bench.models import resolve_model
        from mplm_bench.tasks.longqa import LongQATask

        task = LongQATask(load_tokenizer(str(resolve_model(config.model))), config.budgets.window,
                          run.kind, run.hops, run.chunks or None)
        return task, task.instances(config.size, run.instances, run.seed)
    if run.task == "sat":
        from mplm_bench.tasks.sat import SatTask

        task = SatTask(run.split)
        return task, task.instances(config.size, run.instances, run.seed, run.ratio, run.satisfiable)
    from mplm_bench.tasks.sudoku import SudokuTask

    task = SudokuTask()
    return task, task.instances(config.size, run.instances, run.seed, run.difficulty)


def only_policy(prepared, policy: str):
    """Rows already in the folder count as done only for the same policy."""
    done = {key: row for key, row in prepared.done.items() if row.get("policy") == policy}
    return replace(prepared, done=done)


def write_suite_record(out: Path, suite: Suite, source: Path) -> None:
    """run.json for the whole suite: compare reads its config.suite."""
    path = out / RUN_FILE
    record = json.loads(path.read_text()) if path.exists() else {}
    record["config"] = {"suite": suite.name, "suite_file": str(source),
                        "runs": [asdict(run) for run in suite.runs]}
    path.write_text(json.dumps(record, indent=2) + "\n")
