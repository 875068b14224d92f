"""Training data: the oracle's thread transcripts, each thread's final context with a loss
mask that is 1 on the tokens the thread generated itself and 0 on its prompt, on context
copied at a fork and on lines the runtime inserted (messages, join results, task lines)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from mplm_bench.backends.base import Tokenizer
from mplm_bench.paradigms import PARADIGMS
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import Thread
from mplm_bench.tasks.sudoku import SudokuTask


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
                       seeds: Iterable[int], max_len: int) -> Iterator[Transcript]:
    """Transcripts of oracle runs; threads longer than max_len tokens are left out."""
    for size in sizes:
        for paradigm in paradigms:
            for seed in seeds:
                for thread in oracle_threads(tokenizer, size, paradigm, seed):
                    if len(thread.tokens) <= max_len and thread.generated_spans:
                        yield transcript(thread, paradigm, size)


def sudoku_prompts(sizes: Iterable[int], paradigms: Iterable[str], seed: int) -> list[str]:
    """Root prompts of one puzzle per size and paradigm (the words the vocabulary keeps)."""
    task = SudokuTask()
    texts = []
    for size in sizes:
        puzzle = task.instances(size, 1, seed)[0]
        for paradigm in paradigms:
            texts += [spec.prompt for spec in task.setup(puzzle, PARADIGMS[paradigm]).specs]
    return texts
