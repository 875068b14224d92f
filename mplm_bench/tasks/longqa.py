"""Long-context QA: instances (generated or loaded), prompts per paradigm, reference programs.

Thread layouts:
- CoT: one thread `main` whose prompt holds the whole document (middle-truncated to fit
  the window, as LongBench does; the cut is the task metric truncated_tokens) answers.
- FJ, map-reduce (Chain-of-Agents style): the root `main` holds only the question and the
  chunk names; it forks a reader per chunk ("chunk 3"), and the runtime inserts that
  chunk and the question as the child's task (RunSetup.expand_task), so no context holds
  the whole document. Readers @return what they found; the root joins and answers.
- MPLM: a thread per chunk (`chunk1`..) holding its chunk, the question and its peers'
  names, plus a `coordinator` holding the question. Readers send facts to the coordinator
  and ask each other for missing links of a chain; the coordinator's @answer ends the run
  (the runtime stops the readers still waiting: the answer is out).
Scores: exact match (the verifier) and token F1, SQuAD-normalized, best over gold answers.
"""
from __future__ import annotations

from pathlib import Path

from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, Paradigm
from mplm_bench.runtime.thread import ThreadSpec
from mplm_bench.tasks import longqa_oracle as oracle
from mplm_bench.tasks import longqa_prompts as prompts
from mplm_bench.tasks.base import RunSetup, TaskInputError, single_answer
from mplm_bench.tasks.longqa_files import QAInstance, default_chunks, read_records, to_instance
from mplm_bench.tasks.longqa_generate import KINDS, generate
from mplm_bench.tasks.longqa_score import best_scores

ROOT = "main"
ANSWER_ROOM = 512  # tokens kept free in CoT's window for what the thread writes
MIN_LENGTH = 200  # tokens


class LongQATask:
    name = "longqa"

    def __init__(self, tokenizer, window: int, kind: str = "multihop", hops: int = 2,
                 chunks: int | None = None, path: Path | None = None):
        """`tokenizer` is the run's model's: lengths, chunk sizes and the chat template."""
        self.tokenizer, self.window = tokenizer, window  # window: tokens per thread
        self.chat = prompts.ChatFormat.of(tokenizer)
        self.kind, self.hops, self.chunks, self.path = kind, hops, chunks, path
        if chunks is not None and chunks < 1:
            raise TaskInputError(f"--chunks must be at least 1, got {chunks}")

    def tokens_of(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def instances(self, length: int, count: int, seed: int) -> list[QAInstance]:
        """`count` records of --instances-file, or generated with seeds seed, seed+1, ..."""
        if self.path is not None:
            records = read_records(self.path)[:count]
            return [to_instance(r, self.chunks, self.tokens_of) for r in records]
        if self.kind not in KINDS:
            raise TaskInputError(f"--kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if length < MIN_LENGTH:
            raise TaskInputError(f"--length must be at least {MIN_LENGTH} tokens, got {length}")
        chunks = self.chunks or max(default_chunks(length), self.hops)
        return [generate(self.kind, length, chunks, self.hops, seed + k, self.tokens_of)
                for k in range(count)]

    def setup(self, instance: QAInstance, paradigm: Paradigm) -> RunSetup:
        builders = {COT.name: self._cot, FORK_JOIN.name: self._fork_join, MPLM.name: self._mplm}
        return builders[paradigm.name](instance)

    # ---- shared -----------------------------------------------------------------------
    def _spec(self, name: str, role: str, system: str, user: str) -> ThreadSpec:
        return ThreadSpec(name, role, self.chat.render(system, user),
                          special_tokens=self.chat.template is not None)

    def _scored(self, instance: QAInstance, specs: list[ThreadSpec], programs, answer_from,
                truncated: int = 0, expand_task=None) -> RunSetup:
        def task_metrics(outcome, answer):
            return {**best_scores(answer, instance.answers), "truncated_tokens": truncated}

        return RunSetup(specs, programs, answer_from,
                        check=lambda answer: best_scores(answer, instance.answers)["em"] == 1.0,
                        task_metrics=task_metrics, expand_task=expand_task)

    def _gold(self, instance: QAInstance) -> str:
        return " ".join(instance.answers[0].split())  # one line, as a payload must be

    # ---- paradigms --------------------------------------------------------------------
    def _cot(self, instance: QAInstance) -> RunSetup:
        document, truncated = self._fit(instance)
        spec = self._spec(ROOT, "main", prompts.COT_SYSTEM, prompts.cot_user(document, instance.question))
        return self._scored(instance, [spec], lambda: {ROOT: oracle.CotReader(
            document, instance.facts, self._gold(instance))}, single_answer(ROOT), truncated)

    def _fit(self, instance: QAInstance) -> tuple[str, int]:
        """The document cut in the middle so CoT's prompt leaves ANSWER_ROOM in the window;
        and how many document tokens were cut."""
        document = instance.context
        prompt = self.chat.render(prompts.COT_SYSTEM, prompts.cot_user(document, instance.question))
        over = (len(self.tokenizer.encode(prompt, special=self.chat.template is not None)) + 1
                + ANSWER_ROOM - self.window)  # +1: BOS
        if over <= 0:
            return document, 0
        tokens = self.tokenizer.encode(document)
        keep = max(0, len(tokens) - over)
        head, tail = tokens[: keep // 2], tokens[len(tokens) - (keep - keep // 2):] if keep else []
        return (self.tokenizer.decode(head) + " ... " + self.tokenizer.decode(tail),
                len(tokens) - keep)

    def _fork_join(self, instance: QAInstance) -> RunSetup:
        count, question = len(instance.chunks), instance.question

        def expand_task(task: str) -> str:
            chunk = oracle.chunk_of_task(task)
            if chunk is None or not 1 <= chunk <= count:
                return f"{task}\n(no such chunk: chunks are 1 to {count})\n{prompts.question_block(question)}"
            return prompts.fj_task_text(chunk, count, instance.chunks[chunk - 1], question)

        spec = self._spec(ROOT, "main", prompts.FJ_ROOT_SYSTEM, prompts.fj_root_user(question, count))
        return self._scored(instance, [spec], lambda: {ROOT: oracle.ForkJoinRoot(
            count, instance.facts, self._gold(instance))}, single_answer(ROOT),
            expand_task=expand_task)

    def _mplm(self, instance: QAInstance) -> RunSetup:
        names = [f"chunk{k}" for k in range(1, len(instance.chunks) + 1)]
        specs = [self._spec(oracle.COORDINATOR, "coordinator",
                            prompts.MPLM_COORDINATOR_SYSTEM.format(peers=", ".join(names)),
                            prompts.question_block(instance.question))]
        for k, (name, chunk) in enumerate(zip(names, instance.chunks), 1):
            peers = ", ".join(n for n in names if n != name)
            specs.append(self._spec(name, "chunk", prompts.MPLM_CHUNK_SYSTEM.format(name=name, peers=peers),
                                    prompts.mplm_chunk_user(k, chunk, instance.question)))
        held_facts = tuple(f for f in instance.facts if any(f.sentence in c for c in instance.chunks))
        gold = self._gold(instance) if len(held_facts) == len(instance.facts) else oracle.UNKNOWN
        start = instance.facts[0].about if instance.facts else None

        def programs() -> dict:
            found = {oracle.COORDINATOR: oracle.CoordinatorProgram(held_facts, gold)}
            for name, chunk in zip(names, instance.chunks):
                here = oracle.found_in(chunk, instance.facts)
                found[name] = oracle.ChunkReader(
                    tuple(n for n in names if n != name),
                    {f.about: f for f in here if f.about is not None},
                    [f for f in here if f.about is None], start, instance.facts)
            return found

        return self._scored(instance, specs, programs, single_answer(oracle.COORDINATOR))
