"""`mplm-bench train sudoku` and `eval-steps` as library calls: vocabulary, oracle data,
training, GGUF export, held-out step accuracy per paradigm and size."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mplm_bench.backends.llamacpp_load import load_tokenizer
from mplm_bench.paradigms import PARADIGMS
from mplm_bench.tasks.sudoku_grid import SIZES
from mplm_bench.train.data import Transcript, sudoku_prompts, sudoku_transcripts
from mplm_bench.train.export import write_gguf
from mplm_bench.train.gguf_import import read_gguf
from mplm_bench.train.model import ModelConfig, TinyLlama
from mplm_bench.train.trainer import StepReport, TrainConfig, Trainer, step_accuracy
from mplm_bench.train.vocab import build_vocabulary, protocol_pieces, text_words

TRAIN_SEED = 100_000  # training puzzles: seeds far from the runs' 0, 1, 2, ...
HELDOUT_SEED = 200_000
PUZZLES = {4: 96, 9: 24, 16: 4, 25: 2}  # training puzzles per size
HELDOUT_PUZZLES = {4: 8, 9: 2, 16: 1, 25: 1}


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
    puzzles: dict[int, int] = field(default_factory=lambda: dict(PUZZLES))

    @property
    def checkpoint(self) -> Path:
        return self.out.with_suffix(".pt")


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


def load_data(tokenizer, options: TrainOptions, puzzles: dict[int, int], first_seed: int):
    items = []
    for size in options.sizes:
        seeds = range(first_seed, first_seed + puzzles.get(size, 1))
        items += sudoku_transcripts(tokenizer, [size], options.paradigms, seeds, options.max_len)
    return items


def train_sudoku(options: TrainOptions, on_step: Callable[[StepReport], None],
                 on_phase: Callable[[str], None]) -> dict | None:
    """Train (or resume) and export; returns the summary once all steps are done."""
    started = time.monotonic()
    vocab = sudoku_vocabulary()
    model_config = ModelConfig(len(vocab), options.d_model, options.layers, options.heads,
                               context=options.max_len)
    on_phase("oracle transcripts")
    train, heldout = _transcripts(options, TinyLlama(model_config), vocab)
    config = TrainConfig(steps=options.steps, seed=options.seed, batch_tokens=options.batch_tokens)
    trainer = Trainer(model_config, config, train, _sample(heldout, 16, options.seed))
    if options.resume and options.checkpoint.exists():
        trainer.load(options.checkpoint)
    on_phase(f"training from step {trainer.step}")
    deadline = started + options.time_limit if options.time_limit else None
    if not trainer.run(on_step, deadline, options.checkpoint):
        return None
    options.out.parent.mkdir(parents=True, exist_ok=True)
    write_gguf(trainer.model, vocab, options.out, options.out.stem)
    accuracy = step_accuracy(trainer.model, heldout)
    summary = dict(command=" ".join(sys.argv[1:]), train_seconds=round(trainer.seconds),
                   options=_jsonable(asdict(options)), model=model_config.to_dict(),
                   train_config=asdict(config), train_data=asdict(summarize(train)),
                   heldout_data=asdict(summarize(heldout)),
                   parameters=sum(p.numel() for p in trainer.model.parameters()),
                   heldout_step_accuracy=_table(accuracy))
    summary["file_bytes"] = options.out.stat().st_size
    options.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    options.out.with_suffix(".md").write_text(model_card(summary))
    return summary


def model_card(summary: dict) -> str:
    """The model card: how it was made and how well it predicts held-out steps."""
    model, data, options = summary["model"], summary["train_data"], summary["options"]
    puzzles = {int(size): count for size, count in options["puzzles"].items()
               if int(size) in options["sizes"]}
    lines = [f"# {Path(summary['options']['out']).stem}", "",
             f"A {summary['parameters']:,}-parameter Llama-architecture model ({model['layers']} "
             f"layers, width {model['d_model']}, {model['heads']} heads, vocabulary "
             f"{model['vocab_size']}, context {model['context']}), trained from scratch on "
             "Sudoku oracle transcripts by `mplm-bench train`; "
             f"{summary['file_bytes'] / 1e6:.1f} MB GGUF (f16 matrices).", "",
             "Command (last call; a run cut by --time-limit resumes exactly with --resume):", "",
             f"    mplm-bench {summary['command']}", "",
             f"Seed {summary['options']['seed']}; {summary['train_config']['steps']} steps of "
             f"{summary['train_config']['batch_tokens']} padded tokens; "
             f"training wall time {summary['train_seconds']} s on this machine (2 CPU cores).", "",
             f"Training data: {data['transcripts']:,} thread transcripts, {data['tokens']:,} "
             f"tokens, {data['generated']:,} of them with loss ({data['steps']:,} steps), "
             f"paradigms {', '.join(options['paradigms'])}; puzzles per size {puzzles} (seeds "
             f"from {TRAIN_SEED}).", "",
             f"Held-out step accuracy (teacher-forced; puzzles from seed {HELDOUT_SEED}):", "",
             "| paradigm size | steps | right | accuracy |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {key} | {row['steps']} | {row['right']} | {row['accuracy']:.2%} |"
              for key, row in summary["heldout_step_accuracy"].items()]
    return "\n".join(lines) + "\n"


def _transcripts(options: TrainOptions, model: TinyLlama, vocab):
    """Training and held-out transcripts; cached next to the checkpoint for --resume."""
    import torch

    cache = options.out.with_suffix(".data.pt")
    if options.resume and cache.exists():
        return torch.load(cache, weights_only=False)
    with tempfile.TemporaryDirectory() as folder:  # the tokenizer is llama.cpp's, from a GGUF
        vocab_file = Path(folder) / "vocab.gguf"
        write_gguf(model, vocab, vocab_file, "vocabulary")
        tokenizer = load_tokenizer(str(vocab_file))
        train = load_data(tokenizer, options, options.puzzles, TRAIN_SEED)
        heldout = load_data(tokenizer, options, HELDOUT_PUZZLES, HELDOUT_SEED)
        load_tokenizer.cache_clear()
    if options.time_limit:  # training will be resumed: keep the data
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save((train, heldout), cache)
    return train, heldout


def eval_steps(model_path: Path, sizes: list[int], paradigms: list[str],
               puzzles: int, max_len: int) -> dict[str, dict]:
    """Teacher-forced step accuracy of a GGUF model on held-out oracle transcripts."""
    model = read_gguf(model_path)
    tokenizer = load_tokenizer(str(model_path))
    options = TrainOptions(sizes, paradigms, model_path, max_len=max_len)
    heldout = load_data(tokenizer, options, {size: puzzles for size in sizes}, HELDOUT_SEED)
    return _table(step_accuracy(model, heldout))


def _table(accuracy: dict[tuple[str, int], tuple[int, int]]) -> dict[str, dict]:
    return {f"{paradigm} {size}": {"right": right, "steps": total,
                                   "accuracy": round(right / max(1, total), 5)}
            for (paradigm, size), (right, total) in sorted(accuracy.items())}


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
