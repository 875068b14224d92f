"""Training data: the oracle's thread transcripts, each thread's final context with a loss
mask that is 1 on the tokens the thread generated itself and 0 on its prompt, on context
copied at a fork and on lines the runtime inserted (messages, join results, task lines)."""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mplm_bench.backends.base import Tokenizer
from mplm_bench.paradigms import PARADIGMS
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.runtime import protocol
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import Thread
from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.sudoku import SudokuTask


# The roles of Sudoku threads: the CoT or FJ root, an FJ child, MPLM's two kinds
SUDOKU_ROLES = ("main", "child", "candidate", "unit-digit")


@dataclass(frozen=True)
class Transcript:
    paradigm: str
    size: int
    role: str
    tokens: np.ndarray  # int32 [T], the thread's final context
    mask: np.ndarray  # bool [T]: the thread generated this token

    @property
    def steps(self) -> int:
        """Segments the thread wrote (runs of generated tokens)."""
        edges = np.diff(np.concatenate(([0], self.mask.astype(np.int8))))
        return int((edges == 1).sum())


_HEAD_WORD = re.compile(re.escape(protocol.ACTION_MARK) + "?[A-Za-z]+")  # a verb or a state word


def step_kind(role: str, text: str, first: bool) -> str:
    """What a step does, e.g. 'candidate, later: left @send': the thread's role, whether
    it is the thread's first step, and each line's head word (a verb or a state word; 'fact'
    for a line like r3c4=7), repeats collapsed."""
    heads: list[str] = []
    for line in text.splitlines():
        word = line.split(" ", 1)[0]
        head = word if _HEAD_WORD.fullmatch(word) else "fact"
        if line and (not heads or heads[-1] != head):
            heads.append(head)
    return f"{role}, {'first' if first else 'later'}: {' '.join(heads)}"


def transcript(thread: Thread, paradigm: str, size: int) -> Transcript:
    tokens = np.frombuffer(thread.tokens, dtype=np.int32).copy()
    mask = np.zeros(len(tokens), dtype=bool)
    for start, end in thread.generated_spans:
        mask[start:end] = True
    return Transcript(paradigm, size, thread.role, tokens, mask)


def oracle_threads(tokenizer: Tokenizer, size: int, paradigm: str, seed: int) -> list[Thread]:
    """Every thread of one oracle run on the generated puzzle of `seed`."""
    task = SudokuTask()
    puzzle = task.instances(size, 1, seed)[0]
    setup = task.setup(puzzle, PARADIGMS[paradigm])
    policy = OraclePolicy(tokenizer, setup.programs())
    scheduler = Scheduler(setup.specs, PARADIGMS[paradigm].verbs, policy,
                          answer_complete=lambda answers: setup.answer_from(answers) is not None)
    return scheduler.run().threads


def sudoku_transcripts(tokenizer: Tokenizer, sizes: Iterable[int], paradigms: Iterable[str],
                       seeds: Iterable[int], max_len: int, cut_long: bool = False
                       ) -> Iterator[Transcript]:
    """Transcripts of oracle runs. Threads longer than max_len tokens are left out, or with
    `cut_long` cut to their first max_len tokens (kept if the cut still holds a step)."""
    for size in sizes:
        for paradigm in paradigms:
            for seed in seeds:
                for thread in oracle_threads(tokenizer, size, paradigm, seed):
                    if len(thread.tokens) > max_len and not cut_long:
                        continue  # most FJ children past 9x9: no copy made to drop
                    item = transcript(thread, paradigm, size)
                    if len(item.tokens) > max_len:
                        item = replace(item, tokens=item.tokens[:max_len], mask=item.mask[:max_len])
                    if item.mask.any():
                        yield item


def sudoku_prompts(sizes: Iterable[int], paradigms: Iterable[str], seed: int) -> list[str]:
    """Root prompts of one puzzle per size and paradigm (the words the vocabulary keeps)."""
    task = SudokuTask()
    texts = []
    for size in sizes:
        puzzle = task.instances(size, 1, seed)[0]
        for paradigm in paradigms:
            texts += [spec.prompt for spec in task.setup(puzzle, PARADIGMS[paradigm]).specs]
    return texts


def save_transcripts(path: Path, parts: dict[str, list[Transcript]], meta: dict) -> None:
    """Several named lists of transcripts in one compressed .npz: tokens concatenated, the
    loss mask bit-packed, and `meta` (what made them, as JSON) to check before reuse."""
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, sort_keys=True))}
    for name, items in parts.items():
        lengths = np.array([len(t.tokens) for t in items], dtype=np.int64)
        tokens = np.concatenate([t.tokens for t in items]) if items else np.zeros(0, np.int32)
        mask = np.concatenate([t.mask for t in items]) if items else np.zeros(0, bool)
        arrays[f"{name}.lengths"] = lengths
        arrays[f"{name}.tokens"] = tokens.astype(np.uint16 if tokens.max(initial=0) < 65536 else np.int32)
        arrays[f"{name}.mask"] = np.packbits(mask)
        arrays[f"{name}.labels"] = np.array([f"{t.paradigm} {t.size} {t.role}" for t in items])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # np.savez_compressed would add ".npz" to a bare name
        np.savez_compressed(handle, **arrays)


def check_transcripts_file(path: Path) -> None:
    """One line, not a numpy traceback, for a --data file save_transcripts did not write."""
    try:
        with np.load(path) as arrays:
            json.loads(str(arrays["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise TaskInputError(f"{path}: not a transcripts file written by `train --data`") from None


def load_transcripts(path: Path) -> tuple[dict[str, list[Transcript]], dict]:
    """What save_transcripts wrote: the named lists and the meta dictionary."""
    with np.load(path) as arrays:
        meta = json.loads(str(arrays["meta"]))
        names = sorted({key.split(".")[0] for key in arrays.files if key != "meta"})
        parts = {}
        for name in names:
            lengths = arrays[f"{name}.lengths"]
            tokens = arrays[f"{name}.tokens"].astype(np.int32)
            mask = np.unpackbits(arrays[f"{name}.mask"], count=len(tokens)).astype(bool)
            ends = np.cumsum(lengths)
            items = []
            for label, start, end in zip(arrays[f"{name}.labels"], ends - lengths, ends):
                paradigm, size, role = str(label).split(" ", 2)
                items.append(Transcript(paradigm, int(size), role, tokens[start:end], mask[start:end]))
            parts[name] = items
    return parts, meta
