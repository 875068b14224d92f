"""What the commands show on the terminal: Rich progress bars and tables, one-line errors."""
from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mplm_bench.analyze import SUMMARY_COLUMNS, extra_columns, summarize
from mplm_bench.backends.base import BackendError
from mplm_bench.metrics import ResultRow
from mplm_bench.models import (DEFAULT_MODEL, KNOWN_MODELS, MODEL_ENV, TASK_DEFAULT_MODELS,
                               ModelFileError)
from mplm_bench.paradigms import PARADIGMS, parse_paradigms
from mplm_bench.results import ResultsError, new_run_id, read_rows
from mplm_bench.tasks.base import TaskInputError

# a pipe or a log gets a wide table rather than Rich's 80-column default
stdout = Console(width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True)
USER_ERRORS = (TaskInputError, ModelFileError, BackendError, ResultsError)


def print_error(message: object) -> None:
    """One `error:` line on stderr, never wrapped."""
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def resume_advice(out: Path | str) -> str:
    """What a run command says on Ctrl-C (a default --out is new each time: name it)."""
    return f"finished rows are saved in {out}; rerun with --resume --out {out}"


def rerun_advice(out: Path | str) -> str:
    """suite run and analyze keep the rows in their folder; they have no --resume."""
    return f"finished rows are saved in {out}; rerun with --out {out} to finish"


def guarded(action: Callable[[], None], on_interrupt: str = "") -> None:
    """Bad input: one clear line on stderr and exit code 2, never a traceback. Ctrl-C:
    exit 130 with `on_interrupt`, what the user can do next."""
    try:
        action()
    except USER_ERRORS as error:
        print_error(error)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("interrupted" + (f": {on_interrupt}" if on_interrupt else ""), markup=False,
                     highlight=False, soft_wrap=True)
        sys.exit(130)


def default_out(task: str) -> Path:
    """results/TASK-DATE-TIME, with -2, -3, ... for runs started in the same second."""
    first = out = Path("results") / new_run_id(task)
    for number in itertools.count(2):
        if not out.exists():
            return out
        out = first.with_name(f"{first.name}-{number}")


class RichReporter:
    """Progress over instances x paradigms, with the decode rate in tokens/s."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task_id = progress.add_task("runs", total=1, tokens=0, rate=0.0)
        self.generated = 0  # tokens, this command
        self.start = time.monotonic()  # seconds

    def begin(self, total: int, done: int) -> None:
        self.progress.update(self.task_id, total=total, completed=done)

    def tokens(self, count: int) -> None:
        self.generated += count
        rate = self.generated / max(time.monotonic() - self.start, 1e-9)  # tokens/s
        self.progress.update(self.task_id, tokens=self.generated, rate=rate)

    def row(self, row: ResultRow) -> None:
        self.progress.update(self.task_id, advance=1,
                             description=f"{row.instance_id} {row.paradigm}: {row.status}")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[tokens]:,} tok, {task.fields[rate]:,.0f} tok/s"),
                    TimeElapsedColumn(),
                    console=stderr, transient=False)


def user_paradigms(text: str):
    """parse_paradigms for a command's --paradigms: an unknown name is one error line."""
    try:
        return parse_paradigms(text)
    except ValueError as error:
        raise TaskInputError(str(error)) from None


def run_and_show(task, make_instances: Callable, config) -> None:
    from mplm_bench.runner import POLICIES, prepare_run, run_benchmark

    paradigms = user_paradigms(",".join(config.paradigms))
    if config.instances < 1:  # checked here, not by typer, to keep the error one line
        raise TaskInputError(f"--instances must be at least 1, got {config.instances}")
    if config.policy not in POLICIES:
        raise TaskInputError(f"--policy must be {', '.join(POLICIES)}, got {config.policy!r}")
    if config.policy == "replay" and config.server.uses_server:
        raise TaskInputError("--policy replay decodes with llama.cpp: not with --backend openai")
    instances = make_instances(task)
    prepared = prepare_run(config)
    with _progress() as progress:
        rows = run_benchmark(task, instances, paradigms, config, prepared, RichReporter(progress))
    show_summary(rows, f"{task.name}, policy {config.policy}")
    stdout.print(f"results: {config.out}/results.jsonl", markup=False, highlight=False)


def run_suite(path: Path, out: Path) -> None:
    """Every entry of a suite file into one results folder, one progress bar."""
    from mplm_bench.runner import prepare_run, run_benchmark
    from mplm_bench.suite import load_suite, only_policy, run_configs, suite_task, write_suite_record

    suite = load_suite(path)
    work = [(config, *suite_task(run, config, f"{path}: [[run]] {number}"),
             only_policy(prepare_run(config), run.policy))
            for number, run, config in run_configs(suite, out)]
    with _progress() as progress:
        reporter = RichReporter(progress)
        for config, task, instances, prepared in work:
            run_benchmark(task, instances, parse_paradigms(",".join(config.paradigms)),
                          config, prepared, reporter)
    write_suite_record(out, suite, path)
    show_summary(read_rows(out), f"suite {suite.name}")  # the file holds every entry's rows
    stdout.print(f"results: {out}/results.jsonl", markup=False, highlight=False)


def show_summary(rows: list[dict], title: str) -> None:
    table = Table(title=title)
    columns = SUMMARY_COLUMNS + [(name, name) for name in extra_columns(rows)]  # task metrics
    for heading in ["size", "policy", "paradigm", *[h for _, h in columns], "statuses"]:
        table.add_column(heading, justify="right" if heading in dict(columns).values()
                         or heading == "size" else "left")
    for record in summarize(rows).to_dict("records"):
        cells = [str(record["size"]), record["policy"], record["paradigm"]]
        cells += [_fmt(record[name]) for name, _ in columns]
        table.add_row(*cells, record["statuses"])
    stdout.print(table)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"


def show_threads(run_dir: Path, instance: str, paradigm: str | None, max_threads: int) -> None:
    from mplm_bench.show import paradigms_of, thread_tree

    ran = paradigms_of(run_dir, instance)  # also refuses a bad folder or instance
    paradigms = [p.name for p in user_paradigms(paradigm)] if paradigm else ran
    for name in paradigms:
        stdout.print(thread_tree(run_dir, instance, name, max_threads))


def write_report(run_dirs: list[Path], out: Path) -> None:
    from mplm_bench.report import write_report as write

    with stderr.status("drawing the report..."):
        written = write(run_dirs, out)
    stdout.print(f"report: {written}", markup=False, highlight=False)


def show_models() -> None:
    table = Table(title="models")
    for heading in ("name", "PyPI package", "file", "about"):
        table.add_column(heading)
    for model in KNOWN_MODELS.values():
        table.add_row(model.name, model.package, model.filename, model.note)
    stdout.print(table)
    per_task = "".join(f"{task}: {name}; " for task, name in TASK_DEFAULT_MODELS.items())
    stdout.print(f"default: {DEFAULT_MODEL} ({per_task}override with --model or ${MODEL_ENV}); "
                 "any GGUF file works: --model path/to/model.gguf", markup=False)
    if os.environ.get(MODEL_ENV):
        stdout.print(f"${MODEL_ENV} is set: every task's default is now "
                     f"{os.environ[MODEL_ENV]}", markup=False, highlight=False)


def show_tasks() -> None:
    table = Table(title="tasks")
    for heading in ("task", "command", "about"):
        table.add_column(heading)
    table.add_row("sudoku", "mplm-bench run sudoku --size 4|9|16|25",
                  "generated puzzles with one solution, or --puzzles FILE")
    table.add_row("longqa", "mplm-bench run longqa --length TOKENS [--kind needle|vartrack|"
                  "multihop] [--hops H] [--chunks K]",
                  "RULER-like questions over a long document (EM/F1), or --instances-file "
                  "FILE.jsonl (LongBench layout)")
    table.add_row("sat", "mplm-bench run sat --vars N [--ratio R] [--split K]",
                  "random 3-SAT (--satisfiable yes|no|any) or --instances-file DIMACS .cnf")
    stdout.print(table)
    stdout.print("paradigms: " + ", ".join(f"{p.name} ({p.title})" for p in PARADIGMS.values()),
                 markup=False)


def show_bench_decode(widths: str, tokens: int, model: str | None, cpu_threads: int,
                      n_gpu_layers: int, repeats: int, context: int = 0) -> None:
    from mplm_bench.bench import bench_decode

    try:
        width_list = [int(w) for w in widths.split(",")]
    except ValueError:
        raise TaskInputError(f"--threads takes comma-separated integers, got {widths!r}") from None
    table = Table(title=f"decode throughput, {tokens} tokens per thread, best of {repeats}")
    for heading in ("threads", "prompt tokens", "runtime tok/s", "raw llama.cpp tok/s", "ratio"):
        table.add_column(heading, justify="right")
    with stderr.status("decoding..."):
        rows = bench_decode(width_list, tokens, model, cpu_threads, n_gpu_layers, repeats, context)
    for row in rows:
        table.add_row(str(row.width), f"{row.context:,}", f"{row.runtime_tok_s:,.1f}",
                      f"{row.raw_tok_s:,.1f}", f"{row.ratio:.2f}")
    stdout.print(table)
