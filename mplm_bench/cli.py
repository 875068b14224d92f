"""The command line: each command is a thin wrapper over a library call."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mplm_bench import console
from mplm_bench.cli_options import MODEL_HELP, RunOptions, with_run_options

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark message passing, chain-of-thought and fork-join reasoning.")
run_app = typer.Typer(no_args_is_help=True, help="Run a task under the three paradigms.")
bench_app = typer.Typer(no_args_is_help=True, help="Speed benchmarks (commands, not tests).")
app.add_typer(run_app, name="run")
app.add_typer(bench_app, name="bench")


def _print_version(wanted: bool) -> None:
    if wanted:
        from mplm_bench import __version__

        typer.echo(f"mplm-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version,
                                          is_eager=True, help="print the version and exit")):
    pass  # the app's options; its help is the Typer app's


@run_app.command("sudoku")
@with_run_options
def run_sudoku(
    options: RunOptions,
    size: int = typer.Option(9, help="side n of the n x n grid: 4, 9, 16 or 25 (not with "
                                     "--puzzles: each puzzle has its own)"),
    difficulty: str = typer.Option("singles", help="singles (no search needed) or search"),
    puzzles: Optional[Path] = typer.Option(None, help="puzzle file instead of generated puzzles"),
) -> None:
    """Run Sudoku puzzles under each paradigm and print a table per paradigm."""
    from mplm_bench.tasks.sudoku import SudokuTask

    config = options.config("sudoku", size, {"difficulty": difficulty,
                                             "puzzles": puzzles and str(puzzles)})
    console.guarded(lambda: console.run_and_show(SudokuTask(), lambda task: task.instances(
        size, options.instances, options.seed, difficulty, puzzles), config),
        console.resume_advice(config.out))


@run_app.command("sat")
@with_run_options
def run_sat(
    options: RunOptions,
    num_vars: int = typer.Option(20, "--vars", help="variables n of random 3-SAT"),
    ratio: float = typer.Option(4.26, help="clauses per variable: m = round(ratio * n)"),
    split: int = typer.Option(2, help="FJ and MPLM: branch on the k most frequent variables "
                                      "(2^k branches)"),
    satisfiable: str = typer.Option("any", help="yes, no or any (PySAT decides; redraws)"),
    instances_file: Optional[Path] = typer.Option(None, help="a DIMACS .cnf file or a folder "
                                                             "of them instead of generating"),
    save_cnf: Optional[Path] = typer.Option(None, help="also write the instances as .cnf files"),
) -> None:
    """Run 3-SAT formulas under each paradigm: DPLL text, FJ and MPLM branches, preemption."""
    from mplm_bench.tasks.sat import SatTask

    config = options.config("sat", num_vars, {
        "ratio": ratio, "split": split, "satisfiable": satisfiable,
        "instances_file": instances_file and str(instances_file)})
    console.guarded(lambda: console.run_and_show(SatTask(split), lambda task: task.instances(
        num_vars, options.instances, options.seed, ratio, satisfiable, instances_file, save_cnf),
        config), console.resume_advice(config.out))



@run_app.command("longqa")
@with_run_options
def run_longqa(
    options: RunOptions,
    length: int = typer.Option(8000, help="document length in tokens of the model's tokenizer"),
    kind: str = typer.Option("multihop", help="needle (multi-key needle), vartrack (variable "
                                               "tracking) or multihop (facts across chunks)"),
    hops: int = typer.Option(2, help="facts the answer chains, each in its own chunk "
                                     "(vartrack, multihop)"),
    chunks: Optional[int] = typer.Option(None, help="chunks K the document is split into "
                                                    "[default: one per 1000 tokens, >= hops]"),
    instances_file: Optional[Path] = typer.Option(None, help="JSONL in the LongBench layout "
                                                             "(context, input, answers) instead "
                                                             "of generated instances"),
) -> None:
    """Long-context QA under each paradigm: EM/F1, costs and protocol repairs per paradigm."""
    task_options = {"kind": kind, "hops": hops, "chunks": chunks,
                    "instances_file": instances_file and str(instances_file)}
    config = options.config("longqa", length, task_options,
                            tolerant_default=True)  # prompted models: read actions loosely
    console.guarded(lambda: _run_longqa(length, kind, hops, chunks, instances_file, config),
                    console.resume_advice(config.out))


def _run_longqa(length, kind, hops, chunks, path, config) -> None:
    from mplm_bench.backends.llamacpp_load import load_tokenizer
    from mplm_bench.models import resolve_model
    from mplm_bench.tasks.base import TaskInputError
    from mplm_bench.tasks.longqa import LongQATask

    tokenizer_model = config.model
    if config.server.uses_server:  # lengths and chunks are counted in the served model's tokens
        if not config.server.tokenizer:
            raise TaskInputError("run longqa --backend openai needs --tokenizer (a local GGUF of "
                                 "the served model): document lengths are counted in its tokens")
        tokenizer_model = config.server.tokenizer
    task = LongQATask(load_tokenizer(str(resolve_model(tokenizer_model))), config.budgets.window,
                      kind, hops, chunks, path)
    config.task_options["chat_format"] = task.chat.source  # gguf template or plain
    console.run_and_show(task, lambda t: t.instances(length, config.instances, config.seed), config)



@app.command("models")
def models() -> None:
    """The default model, the known models, and how to use any GGUF file."""
    console.show_models()


@app.command("tasks")
def tasks() -> None:
    """The tasks and their options."""
    console.show_tasks()


@bench_app.command("decode")
def bench_decode(
    threads: str = typer.Option("1,8,32", help="comma-separated batch widths (threads)"),
    tokens: int = typer.Option(64, min=4, help="tokens decoded per thread"),
    context: int = typer.Option(0, min=0, help="tokens of prompt prefilled into each thread "
                                "before decoding (0: a short count prompt)"),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP + " (e.g. sudoku-protocol)"),
    cpu_threads: int = typer.Option(0, help="CPU threads for llama.cpp [0: all cores]"),
    n_gpu_layers: int = typer.Option(0, help="layers offloaded to the GPU"),
    repeats: int = typer.Option(3, min=1, help="interleaved runs per side; the best counts"),
) -> None:
    """Runtime decode tokens/s beside a minimal raw llama.cpp batched loop, and their ratio."""
    console.guarded(lambda: console.show_bench_decode(threads, tokens, model, cpu_threads,
                                                      n_gpu_layers, repeats, context))


@app.command("show")
def show(
    run_dir: Path = typer.Argument(..., help="a results folder written with --trace"),
    instance: str = typer.Argument(..., help="instance id, e.g. n9-s0-singles"),
    paradigm: Optional[str] = typer.Option(None, help="one paradigm (default: all that ran)"),
    max_threads: int = typer.Option(40, min=1, help="threads shown per paradigm"),
) -> None:
    """One instance's threads as a tree: what each wrote and received."""
    console.guarded(lambda: console.show_threads(run_dir, instance, paradigm, max_threads))


@app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="results folders (run.json, results.jsonl, "
                                                    "optional traces/)"),
    out: Path = typer.Option(..., "--out", "-o", help="report.html (one self-contained file) "
                                                      "or report.md (+ report_files/)"),
) -> None:
    """Tables and figures from saved run folders: configs, results per size, plots, timelines."""
    console.guarded(lambda: console.write_report(run_dirs, out))


analyze_app = typer.Typer(no_args_is_help=True, help="How costs scale with the task size.")
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("sudoku")
def analyze_sudoku(
    sizes: str = typer.Option("4,9,16,25", help="comma-separated sides n: 4, 9, 16, 25"),
    instances: int = typer.Option(5, help="puzzles per size"),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP + " (its tokenizer counts)"),
    seed: int = typer.Option(0, help="first generator seed; puzzle k uses seed + k"),
    out: Optional[Path] = typer.Option(None, help="results folder (default: results/<run-id>)"),
) -> None:
    """Oracle runs of MPLM, CoT and FJ at each size: scaling.csv, exponents.csv, scaling.png."""
    from mplm_bench.console_scaling import analyze_and_show

    folder = out or console.default_out("scaling")
    console.guarded(lambda: analyze_and_show(sizes, instances, model, seed, folder),
                    console.rerun_advice(folder))


suite_app = typer.Typer(no_args_is_help=True, help="Benchmark suites from TOML files.")
app.add_typer(suite_app, name="suite")


@suite_app.command("run")
def suite_run(
    file: Path = typer.Argument(..., help="suite file, e.g. tasks/ci.toml"),
    out: Optional[Path] = typer.Option(None, help="results folder (default: results/<suite>-<time>)"),
) -> None:
    """Run every entry of a suite into one results folder (rows already there are kept)."""
    folder = out or console.default_out(file.stem)
    console.guarded(lambda: console.run_suite(file, folder), console.rerun_advice(folder))


@app.command("baseline")
def baseline(
    run_dir: Path = typer.Argument(..., help="a results folder (run.json, results.jsonl)"),
    out: Path = typer.Option(..., "--out", "-o", help="baseline JSON to write, e.g. "
                                                      "baselines/ci.json"),
) -> None:
    """Save a run's solved % and median costs per group as a baseline for `compare`."""
    from mplm_bench.console_compare import show_baseline

    console.guarded(lambda: show_baseline(run_dir, out))


@app.command("compare")
def compare(
    run_dir: Path = typer.Argument(..., help="a results folder (run.json, results.jsonl)"),
    baseline_file: Path = typer.Option(..., "--baseline", help="JSON from `mplm-bench baseline`"),
    tolerance: Optional[list[str]] = typer.Option(
        None, help="METRIC=PERCENT (or all=PERCENT), repeatable; default 0 for oracle "
                   "groups, 10 for model groups"),
    markdown: Optional[Path] = typer.Option(None, help="also write the table as Markdown"),
) -> None:
    """Compare a run with a baseline; exit 1 when a metric regressed beyond its tolerance."""
    from mplm_bench.console_compare import show_comparison

    regressed = []  # guarded() returns nothing and exits 2 itself on bad input
    console.guarded(lambda: regressed.append(
        show_comparison(run_dir, baseline_file, tolerance or [], markdown)))
    if regressed and regressed[0]:
        raise typer.Exit(1)


train_app = typer.Typer(no_args_is_help=True, help="Train a tiny protocol model (train extra).")
app.add_typer(train_app, name="train")


@train_app.command("sudoku")
def train_sudoku(
    out: Path = typer.Option(..., help="GGUF file to write, e.g. models/sudoku-protocol.gguf"),
    sizes: str = typer.Option("4,9,16,25", help="comma-separated sides n of the training puzzles"),
    paradigms: str = typer.Option("mplm,cot,fj", help="whose oracle transcripts to learn"),
    steps: int = typer.Option(3000, min=1, help="optimizer steps"),
    d_model: int = typer.Option(128, min=16, help="model width"),
    layers: int = typer.Option(4, min=1, help="transformer blocks"),
    heads: int = typer.Option(4, min=1, help="attention heads"),
    seed: int = typer.Option(0, help="initialisation and batch order"),
    max_len: int = typer.Option(2048, min=64, help="longest thread context kept, in tokens"),
    cut_long: bool = typer.Option(False, help="cut longer thread contexts at --max-len (their "
                                              "first steps are kept) instead of leaving them out"),
    time_limit: float = typer.Option(0, help="seconds to train in this call (0: no limit); "
                                            "a checkpoint OUT.pt lets --resume continue"),
    resume: bool = typer.Option(False, help="continue from OUT.pt"),
    batch_tokens: int = typer.Option(4096, min=256, help="padded tokens per batch"),
    puzzles: str = typer.Option("", help="training puzzles per size, e.g. 4:96,9:24 "
                                         "(default 4:96,9:24,16:4,25:2), or per paradigm "
                                         "and size, e.g. cot/4:2000"),
    lr: float = typer.Option(3e-3, min=0.0, help="peak learning rate (AdamW, cosine decay)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda (bfloat16 on a GPU)"),
    data: Optional[Path] = typer.Option(None, help="transcripts file (.npz): read if it exists, "
                                                   "else written, so data is made once"),
    init: Optional[Path] = typer.Option(None, help="GGUF model of the same shape to continue "
                                                   "training from (new optimizer and schedule); "
                                                   "with fewer blocks than --layers, the new "
                                                   "ones go on top and start as the identity"),
    freeze_init: bool = typer.Option(False, help="keep the --init model's weights fixed and "
                                                 "train only the blocks --layers adds"),
    mix: str = typer.Option("", help="shares of the steps drawn from one paradigm's transcripts "
                                     "or one role in it, e.g. fj/main:0.3,cot:0.1; the other "
                                     "steps draw from the rest (default: every batch alike)"),
) -> None:
    """Train a Llama-architecture model from scratch on oracle transcripts; export GGUF."""
    from mplm_bench.console_train import (parse_mix, parse_puzzles, parse_sizes,
                                          require_train_extra, train_and_show)

    def train() -> None:
        require_train_extra()  # one line, before the pipeline imports torch and gguf
        from mplm_bench.train.pipeline import TrainOptions

        train_and_show(TrainOptions(
            parse_sizes(sizes), [p.name for p in console.user_paradigms(paradigms)], out, steps,
            d_model, layers, heads, seed, max_len, time_limit, resume, batch_tokens,
            parse_puzzles(puzzles), lr, device, data, init, freeze_init, cut_long,
            parse_mix(mix)))

    console.guarded(train, f"rerun with --resume to go on from the last checkpoint, "
                           f"{out.with_suffix('.pt')}")


@app.command("eval-steps")
def eval_steps(
    model: Path = typer.Argument(..., help="a GGUF file written by `mplm-bench train`"),
    sizes: str = typer.Option("4,9,16,25", help="comma-separated sides n"),
    paradigms: str = typer.Option("mplm,cot,fj", help="comma-separated: mplm, cot, fj"),
    puzzles: int = typer.Option(1, min=1, help="held-out puzzles per size"),
    max_len: int = typer.Option(2048, min=64, help="longest thread context kept, in tokens"),
    cut_long: bool = typer.Option(False, help="cut longer thread contexts at --max-len (FJ "
                                              "roots past 4x4 count) instead of leaving them out"),
    by_kind: bool = typer.Option(False, help="also split by kind of step: thread role, first "
                                             "or later step, each line's head word"),
    errors: int = typer.Option(0, min=0, help="also show N steps the model gets wrong, one "
                                              "of each row in turn: the lines before, the "
                                              "oracle's step, the model's greedy one"),
) -> None:
    """Teacher-forced step accuracy on held-out oracle transcripts, per paradigm and size."""
    from mplm_bench.console_train import eval_and_show

    console.guarded(lambda: eval_and_show(model, sizes, paradigms, puzzles, max_len, by_kind,
                                          errors, cut_long))


# click's error classes: Typer vendors click since 0.2x and keeps the module private, so
# they are reached through the public BadParameter.
USAGE_ERROR = typer.BadParameter.__base__  # an unknown option or command, a bad value: exit 2
CLICK_ERROR = USAGE_ERROR.__base__


def main() -> None:
    """The entry point. A usage error is one line and exit code 2, like every other bad
    input, not Typer's boxed block; no arguments still print the help."""
    try:
        code = app(prog_name="mplm-bench", standalone_mode=False)
    except CLICK_ERROR as error:
        message = error.format_message()
        if "\n" in message:  # no arguments: the help (Typer's Rich help prints it itself)
            typer.echo(message, err=True)
        elif message:
            ctx = getattr(error, "ctx", None)
            console.print_error(message + (f" (see {ctx.command_path} --help)" if ctx else ""))
        raise SystemExit(error.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        raise SystemExit(1)
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
