"""What `train` and `eval-steps` show: a Rich progress bar (loss, step time, held-out step
accuracy) a table of step accuracy per paradigm and size, and the steps a model gets wrong."""
from __future__ import annotations

import textwrap
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mplm_bench.console import stdout, user_paradigms
from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.sudoku_grid import SIZES


def require_train_extra() -> None:
    try:
        import gguf  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise TaskInputError("train and eval-steps need the train extra (torch, gguf): "
                             "pip install -e '.[train]'") from None


def parse_sizes(text: str) -> list[int]:
    from mplm_bench.scaling import parse_sizes as parse

    return parse(text, SIZES, least=1)


def parse_puzzles(text: str) -> dict[str, int]:
    """'4:500,cot/9:100' -> {'4': 500, '9': 24, '16': 4, '25': 2, 'cot/9': 100}."""
    from mplm_bench.train.pipeline import PUZZLES, puzzle_key

    counts = dict(PUZZLES)  # sizes not named keep their default
    for part in filter(None, text.split(",")):
        key, _, count = part.strip().partition(":")
        paradigm, _, size = key.rpartition("/")
        if not (size.isdigit() and count.isdigit() and int(count) > 0):
            raise TaskInputError(f"--puzzles: {part!r} is not SIZE:COUNT or PARADIGM/SIZE:COUNT "
                                 "(e.g. 4:96,cot/9:500)")
        n = parse_sizes(size)[0]
        counts[puzzle_key(user_paradigms(paradigm)[0].name, n) if paradigm else str(n)] = int(count)
    return counts


def parse_mix(text: str) -> dict[str, float]:
    """'fj/main:0.3,cot:0.1' -> {'fj/main': 0.3, 'cot': 0.1}: shares of the training steps."""
    from mplm_bench.train.data import SUDOKU_ROLES

    mix: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        key, _, share = part.strip().partition(":")
        paradigm, _, role = key.partition("/")
        try:
            value = float(share)
        except ValueError:
            value = 0.0
        if not 0 < value <= 1 or (role and role not in SUDOKU_ROLES):
            raise TaskInputError(f"--mix: {part!r} is not PARADIGM:SHARE or PARADIGM/ROLE:SHARE "
                                 f"with a share in (0, 1] and a role of {', '.join(SUDOKU_ROLES)}")
        name = user_paradigms(paradigm)[0].name
        group = f"{name}/{role}" if role else name
        for other in mix:  # a transcript may be in one group only
            other_paradigm, _, other_role = other.partition("/")
            if other_paradigm == name and (not role or other_role in ("", role)):
                raise TaskInputError(f"--mix: {group} overlaps {other}")
        mix[group] = value
    if sum(mix.values()) > 1 + 1e-9:
        raise TaskInputError(f"--mix: the shares add up to {sum(mix.values()):g}, more than 1")
    return mix


def train_and_show(options) -> None:
    from mplm_bench.train.pipeline import check_options, train_sudoku

    check_options(options)  # a bad option is one line, before any progress bar

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}  {task.fields[step_s]:.2f} s/step  "
                          "held-out steps {task.fields[accuracy]}"), TimeElapsedColumn())
    with Progress(*columns, console=stdout) as progress:
        bar = progress.add_task("preparing", total=options.steps, loss=0.0, step_s=0.0,
                                accuracy="-")

        mean = []  # the loss averaged over recent steps: one batch holds one length bucket

        def on_step(report) -> None:
            mean[:] = [report.loss if not mean else 0.98 * mean[0] + 0.02 * report.loss]
            fields = dict(completed=report.step, loss=mean[0], step_s=report.seconds)
            if report.accuracy:
                fields["accuracy"] = " ".join(f"{p}{n} {a:.1%}" for (p, n), a in
                                              sorted(report.accuracy.items()))
                progress.console.print(f"step {report.step}: loss {mean[0]:.4f} (mean), "
                                       f"held-out steps {fields['accuracy']}", markup=False)
            progress.update(bar, description="training", **fields)

        summary = train_sudoku(options, on_step,
                               lambda phase: progress.update(bar, description=phase))
    if summary is None:
        stdout.print(f"stopped at the time limit; checkpoint {options.checkpoint} "
                     "(rerun with --resume to continue)")
        return
    show_step_accuracy(summary["heldout_step_accuracy"], f"held-out step accuracy, {options.out}")
    stdout.print(f"wrote {options.out} ({options.out.stat().st_size / 1e6:.1f} MB), its card "
                 f"{options.out.with_suffix('.md')} and {options.out.with_suffix('.json')}")


def eval_and_show(model: Path, sizes: str, paradigms: str, puzzles: int, max_len: int,
                  by_kind: bool = False, errors: int = 0, cut_long: bool = False) -> None:
    require_train_extra()
    from mplm_bench.models import resolve_model
    from mplm_bench.train.pipeline import eval_steps

    path = resolve_model(str(model))
    names = [p.name for p in user_paradigms(paradigms)]
    result = eval_steps(path, parse_sizes(sizes), names, puzzles, max_len, by_kind, errors,
                        cut_long)
    show_step_accuracy(result.table, f"teacher-forced step accuracy, {path.name}", by_kind)
    for number, step in enumerate(result.wrong, 1):
        stdout.rule(f"wrong step {number}: {step.group}", style="dim")
        stdout.print(step.before, end="", markup=False, highlight=False, style="dim")
        for title, text in (("oracle", step.want), ("model", step.got)):
            stdout.print(f"{title}:", style="bold")
            stdout.print(textwrap.indent(text, "  ").rstrip("\n"), markup=False, highlight=False)


def show_step_accuracy(table: dict[str, dict], title: str, by_kind: bool = False) -> None:
    view = Table(title=title)
    first = "paradigm size | step kind" if by_kind else "paradigm size"
    for column in (first, "steps", "right", "accuracy"):
        view.add_column(column, justify="left" if column == first else "right")
    for key, row in table.items():
        view.add_row(key, str(row["steps"]), str(row["right"]), f"{row['accuracy']:.4%}")
    stdout.print(view)
