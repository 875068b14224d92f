"""`mplm-bench train sudoku` and `eval-steps` as library calls: vocabulary, oracle data,
training, GGUF export, held-out step accuracy per paradigm and size."""
from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mplm_bench.paradigms import PARADIGMS
from mplm_bench.results import prepare_dir
from mplm_bench.tasks.sudoku_grid import SIZES
from mplm_bench.tasks.base import TaskInputError
from mplm_bench.train.data import (Transcript, check_transcripts_file, load_transcripts,
                                   save_transcripts, step_kind, sudoku_prompts,
                                   sudoku_transcripts)
from mplm_bench.train.export import write_gguf
from mplm_bench.train.gguf_import import read_gguf
from mplm_bench.train.model import ModelConfig, TinyLlama
from mplm_bench.train.trainer import (StepReport, StepResult, TrainConfig, Trainer, step_accuracy,
                                     tally_steps, teacher_forced_steps)
from mplm_bench.train.vocab import Vocabulary, build_vocabulary, protocol_pieces, text_words
from mplm_bench.train.warm_start import check_blocks, freeze_below, start_from

TRAIN_SEED = 100_000  # training puzzles: seeds far from the runs' 0, 1, 2, ...
HELDOUT_SEED = 200_000
# Puzzles per size ("4"), or per paradigm and size ("cot/4", which wins over "4"): a CoT
# transcript is one thread, an MPLM run hundreds, so a mixed model wants more CoT puzzles.
PUZZLES = {"4": 96, "9": 24, "16": 4, "25": 2}  # training puzzles
HELDOUT_PUZZLES = {"4": 8, "9": 2, "16": 1, "25": 1}


@dataclass
class TrainOptions:
    sizes: list[int]
    paradigms: list[str]
    out: Path
    steps: int = 3000
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    seed: int = 0
    max_len: int = 2048  # tokens: longer thread contexts are left out of the data
    time_limit: float = 0.0  # seconds this call may train (0: no limit); resume continues
    resume: bool = False
    batch_tokens: int = 4096  # padded tokens per batch
    puzzles: dict[str, int] = field(default_factory=lambda: dict(PUZZLES))  # see PUZZLES
    lr: float = 3e-3  # peak learning rate
    device: str = "auto"  # "auto": cuda when torch sees a GPU, else cpu
    data: Path | None = None  # transcripts file: read when it exists, else written
    init: Path | None = None  # a GGUF model of the same shape to start from (fresh optimizer)
    freeze_init: bool = False  # train only the blocks --layers adds on top of --init's
    cut_long: bool = False  # cut thread contexts longer than max_len there, not leave them out
    mix: dict[str, float] = field(default_factory=dict)  # group -> share of steps (TrainConfig.mix)

    @property
    def checkpoint(self) -> Path:
        return self.out.with_suffix(".pt")

    @property
    def data_file(self) -> Path | None:
        """--data, or (for a run that will be resumed) a cache next to the checkpoint."""
        return self.data or (self.out.with_suffix(".data.npz") if self.time_limit else None)


@dataclass
class DataSummary:
    transcripts: int
    tokens: int
    generated: int
    steps: int


def summarize(items: list[Transcript]) -> DataSummary:
    return DataSummary(len(items), sum(len(t.tokens) for t in items),
                       sum(int(t.mask.sum()) for t in items), sum(t.steps for t in items))


def sudoku_vocabulary():
    """One vocabulary for every Sudoku model: the words of one puzzle's prompts per size and
    paradigm, whatever the training sizes (so models stay comparable)."""
    return build_vocabulary(protocol_pieces() + text_words(
        sudoku_prompts(list(SIZES), list(PARADIGMS), 0)))


def puzzle_key(paradigm: str, size: int) -> str:
    """The --puzzles key of one paradigm and size: "cot/4"."""
    return f"{paradigm}/{size}"


def puzzle_count(puzzles: dict[str, int], paradigm: str, size: int) -> int:
    """Puzzles of one paradigm and size: its "cot/4" count, else its size's "4", else 1."""
    return puzzles.get(puzzle_key(paradigm, size), puzzles.get(str(size), 1))


def used_counts(puzzles: dict[str, int], sizes: list[int], paradigms: list[str]) -> dict[str, int]:
    """The counts that apply to these sizes and paradigms (per size; per paradigm where set)."""
    counts = {str(n): puzzles.get(str(n), 1) for n in sizes}
    counts |= {key: puzzles[key] for n in sizes for key in (puzzle_key(p, n) for p in paradigms)
               if key in puzzles}
    return counts


def load_data(tokenizer, options: TrainOptions, puzzles: dict[str, int], first_seed: int):
    items = []
    for size in options.sizes:
        for paradigm in options.paradigms:
            seeds = range(first_seed, first_seed + puzzle_count(puzzles, paradigm, size))
            items += sudoku_transcripts(tokenizer, [size], [paradigm], seeds, options.max_len,
                                        options.cut_long)
    return items


def train_sudoku(options: TrainOptions, on_step: Callable[[StepReport], None],
                 on_phase: Callable[[str], None]) -> dict | None:
    """Train (or resume) and export; returns the summary once all steps are done."""
    started = time.monotonic()
    device = check_options(options)  # before minutes of data making
    on_phase("oracle transcripts")
    train, heldout, vocab = _transcripts(options)
    model_config = ModelConfig(len(vocab), options.d_model, options.layers, options.heads,
                               context=options.max_len)
    config = TrainConfig(steps=options.steps, seed=options.seed, batch_tokens=options.batch_tokens,
                         lr=options.lr, device=device, mix=tuple(options.mix.items()))
    trainer = Trainer(model_config, config, train, _sample(heldout, 16, options.seed))
    if options.resume and options.checkpoint.exists():
        trainer.load(options.checkpoint)  # the checkpoint already holds what --init gave
        if options.freeze_init:
            freeze_below(trainer.model, read_gguf(options.init).config.layers)
    elif options.init is not None:
        start_from(trainer, options.init, options.freeze_init)
    on_phase(f"training from step {trainer.step}")
    deadline = started + options.time_limit if options.time_limit else None
    if not trainer.run(on_step, deadline, options.checkpoint):
        return None
    write_gguf(trainer.model, vocab, options.out, options.out.stem)
    accuracy = step_accuracy(trainer.model, heldout)
    summary = dict(command=" ".join(sys.argv[1:]), train_seconds=round(trainer.seconds),
                   hardware=hardware(config.device),
                   options=_jsonable(asdict(options)), model=model_config.to_dict(),
                   train_config=asdict(config), train_data=asdict(summarize(train)),
                   heldout_data=asdict(summarize(heldout)),
                   parameters=sum(p.numel() for p in trainer.model.parameters()),
                   trained_parameters=sum(p.numel() for p in trainer.model.parameters()
                                          if p.requires_grad),
                   heldout_step_accuracy=_table(accuracy))
    summary["file_bytes"] = options.out.stat().st_size
    options.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    options.out.with_suffix(".md").write_text(model_card(summary))
    return summary


def model_card(summary: dict) -> str:
    """The model card: how it was made and how well it predicts held-out steps."""
    model, data, options = summary["model"], summary["train_data"], summary["options"]
    puzzles = used_counts(options["puzzles"], options["sizes"], options["paradigms"])
    lines = [f"# {Path(summary['options']['out']).stem}", "",
             f"A {summary['parameters']:,}-parameter Llama-architecture model ({model['layers']} "
             f"layers, width {model['d_model']}, {model['heads']} heads, vocabulary "
             f"{model['vocab_size']}, context {model['context']}), trained "
             f"{'from scratch' if options['init'] is None else 'further'} on "
             "Sudoku oracle transcripts by `mplm-bench train`; "
             f"{summary['file_bytes'] / 1e6:.1f} MB GGUF (f16 matrices).", "",
             *_frozen_note(summary), *_mix_note(options),
             "Command (last call; a run cut by --time-limit resumes exactly with --resume):", "",
             f"    mplm-bench {summary['command']}", "",
             f"Seed {summary['options']['seed']}; {summary['train_config']['steps']} steps of "
             f"{summary['train_config']['batch_tokens']} padded tokens; "
             f"training wall time {summary['train_seconds']} s on {summary['hardware']}.", "",
             f"Training data: {data['transcripts']:,} thread transcripts, {data['tokens']:,} "
             f"tokens, {data['generated']:,} of them with loss ({data['steps']:,} steps), "
             f"paradigms {', '.join(options['paradigms'])}; puzzles per size (and per paradigm "
             f"and size) {', '.join(f'{k}: {v}' for k, v in puzzles.items())} (seeds from "
             f"{TRAIN_SEED}).", "",
             f"Held-out step accuracy (teacher-forced; puzzles from seed {HELDOUT_SEED}):", "",
             "| paradigm size | steps | right | accuracy |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {key} | {row['steps']} | {row['right']} | {row['accuracy']:.2%} |"
              for key, row in summary["heldout_step_accuracy"].items()]
    return "\n".join(lines) + "\n"


def _frozen_note(summary: dict) -> list[str]:
    """A card line for a --freeze-init call: which weights came fixed from --init."""
    trained = summary.get("trained_parameters", summary["parameters"])
    if trained == summary["parameters"]:
        return []
    return [f"This call trained {trained:,} parameters, the blocks above those of "
            f"`--init {summary['options']['init']}`, whose weights (embedding, blocks, final "
            "norm) it kept fixed (`--freeze-init`).", ""]


def _mix_note(options: dict) -> list[str]:
    """A card line for a --mix call: which transcripts got a fixed share of the steps."""
    mix = options.get("mix") or {}
    if not mix:
        return []
    shares = ", ".join(f"{share:.0%} {group}" for group, share in mix.items())
    return [f"Steps drawn by `--mix`: {shares}; the others from the remaining transcripts.", ""]


def check_options(options: TrainOptions) -> str:
    """One-line errors for options that would fail later; returns the torch device."""
    from mplm_bench.models import check_gguf

    prepare_dir(options.out.parent)  # the checkpoint and card go next to the model
    if options.data_file is not None and options.data_file.exists():
        check_transcripts_file(options.data_file)
    if options.d_model % options.heads or (options.d_model // options.heads) % 2:
        raise TaskInputError(f"--d-model {options.d_model} / --heads {options.heads} must be "
                             "a whole, even head width (rotary pairs)")
    if options.init is not None:
        check_gguf(options.init)
        check_blocks(options.layers, options.freeze_init, read_gguf(options.init).config.layers)
    elif options.freeze_init:
        raise TaskInputError("--freeze-init needs --init (the model whose blocks stay fixed)")
    for group in options.mix:
        if group.partition("/")[0] not in options.paradigms:
            raise TaskInputError(f"--mix {group}: its paradigm is not in --paradigms")
    return torch_device(options.device)


def torch_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TaskInputError("--device cuda: this torch sees no CUDA GPU")
    if name not in ("cpu", "cuda"):
        raise TaskInputError(f"--device {name!r}: must be auto, cpu or cuda")
    return name


def hardware(device: str) -> str:
    """Where training ran, in words for the model card."""
    import os

    import torch

    if device == "cuda":
        return f"one {torch.cuda.get_device_name()} (CUDA, bfloat16)"
    threads = torch.get_num_threads()  # the model card names it: runs on other counts differ
    return f"CPU, {threads} thread{'s' * (threads != 1)} of {os.cpu_count()} cores (float32)"


def _data_meta(options: TrainOptions) -> dict:
    """What decides the transcripts: a data file made with other values is not reused."""
    return dict(sizes=options.sizes, paradigms=options.paradigms, max_len=options.max_len,
                train_seed=TRAIN_SEED, heldout_seed=HELDOUT_SEED,
                puzzles=used_counts(options.puzzles, options.sizes, options.paradigms),
                heldout_puzzles=used_counts(HELDOUT_PUZZLES, options.sizes, options.paradigms)
                ) | ({"cut_long": True} if options.cut_long else {})  # older files lack the key


def _transcripts(options: TrainOptions) -> tuple[list[Transcript], list[Transcript], Vocabulary]:
    """Training and held-out transcripts and their vocabulary, read from the data file when
    it exists (so training needs neither llama.cpp nor the puzzle generator)."""
    path, meta = options.data_file, _data_meta(options)
    if path is not None and path.exists():
        parts, made_with = load_transcripts(path)
        vocab = Vocabulary(**made_with.pop("vocabulary"))
        if made_with != meta:
            raise TaskInputError(f"{path}: made with other training data options "
                                 f"({made_with}); delete it or use the same options")
        return parts["train"], parts["heldout"], vocab
    from mplm_bench.backends.llamacpp_load import load_tokenizer

    vocab = sudoku_vocabulary()
    with tempfile.TemporaryDirectory() as folder:  # the tokenizer is llama.cpp's, from a GGUF
        vocab_file = Path(folder) / "vocab.gguf"
        # llama.cpp reads a tokenizer only from a model file: any weights will do
        write_gguf(TinyLlama(ModelConfig(len(vocab), 16, 1, 1)), vocab, vocab_file, "vocabulary")
        tokenizer = load_tokenizer(str(vocab_file))
        train = load_data(tokenizer, options, options.puzzles, TRAIN_SEED)
        heldout = load_data(tokenizer, options, HELDOUT_PUZZLES, HELDOUT_SEED)
        load_tokenizer.cache_clear()
    if path is not None:
        save_transcripts(path, {"train": train, "heldout": heldout},
                         dict(meta, vocabulary=asdict(vocab)))
    return train, heldout, vocab


@dataclass(frozen=True)
class WrongStep:
    """A held-out step the model gets wrong, teacher-forced."""
    group: str  # "paradigm size | step kind"
    before: str  # the thread's context before the step: its first line and its last lines
    want: str  # the oracle's step
    got: str  # the model's greedy continuation, as many tokens


@dataclass
class StepEval:
    table: dict[str, dict]  # what _table gives
    wrong: list[WrongStep]


def eval_steps(model_path: Path, sizes: list[int], paradigms: list[str], puzzles: int,
               max_len: int, by_kind: bool = False, errors: int = 0,
               cut_long: bool = False) -> StepEval:
    """Teacher-forced step accuracy of a GGUF model on held-out oracle transcripts, per
    paradigm and size (and with `by_kind` per kind of step too, data.step_kind), and up to
    `errors` of the steps it gets wrong, one of each group in turn."""
    from mplm_bench.backends.llamacpp_load import load_tokenizer

    model = read_gguf(model_path)
    tokenizer = load_tokenizer(str(model_path))
    options = TrainOptions(sizes, paradigms, model_path, max_len=max_len, cut_long=cut_long)
    heldout = load_data(tokenizer, options, {str(size): puzzles for size in sizes}, HELDOUT_SEED)

    def text(item: Transcript, start: int, end: int) -> str:
        return tokenizer.decode(item.tokens[start:end].tolist())

    def group(item: Transcript, index: int, start: int, end: int) -> tuple:
        kind = (step_kind(item.role, text(item, start, end), index == 0),) if by_kind else ()
        return (item.paradigm, item.size, *kind)

    steps = list(teacher_forced_steps(model, heldout))
    wrong = [step for step in steps if not step.right] if errors else []  # grouping decodes each
    wrong_by_group: dict[str, list[StepResult]] = {}
    for step in wrong:
        label = _label(group(step.item, step.index, step.start, step.end))
        wrong_by_group.setdefault(label, []).append(step)
    shown = []
    for label, step in _round_robin(wrong_by_group)[:errors]:  # one of each group in turn
        item, start, end = step.item, step.start, step.end
        got = tokenizer.decode(model.greedy(item.tokens[:start].tolist(), end - start))
        shown.append(WrongStep(label, _first_and_last_lines(text(item, 0, start)),
                               text(item, start, end), got))
    return StepEval(_table(tally_steps(steps, group)), shown)


def _round_robin(groups: dict[str, list[StepResult]]) -> list[tuple[str, StepResult]]:
    """(group, step) pairs: the first step of each group (by group name), then the second..."""
    rounds = itertools.zip_longest(*[[(name, step) for step in groups[name]] for name in sorted(groups)])
    return [pair for pairs in rounds for pair in pairs if pair is not None]


def _first_and_last_lines(text: str, last: int = 8) -> str:
    lines = text.splitlines()
    if len(lines) <= last + 2:  # eliding one line would not save one
        return text
    return "\n".join([lines[0], f"... ({len(lines) - last - 1} more lines)", *lines[-last:]]) + "\n"


def _label(group: tuple) -> str:
    """'paradigm size' (and ' | step kind' when grouped by kind)."""
    return " | ".join([f"{group[0]} {group[1]}", *group[2:]])


def _table(accuracy: dict[tuple, tuple[int, int]]) -> dict[str, dict]:
    return {_label(group): {"right": right, "steps": total, "accuracy": round(right / max(1, total), 5)}
            for group, (right, total) in sorted(accuracy.items())}


def _sample(items: list[Transcript], per_group: int, seed: int) -> list[Transcript]:
    """At most per_group transcripts of each paradigm x size (the progress bar's held-out set)."""
    import random
    groups: dict[tuple[str, int], list[Transcript]] = {}
    for item in items:
        groups.setdefault((item.paradigm, item.size), []).append(item)
    rng = random.Random(seed)
    return [t for group in groups.values() for t in rng.sample(group, min(per_group, len(group)))]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
