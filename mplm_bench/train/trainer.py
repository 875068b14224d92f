"""The training loop: length-bucketed batches of transcripts, AdamW with warm-up and cosine
decay, loss on generated tokens only, held-out step accuracy now and then, checkpoints that
resume to the same result as an unbroken run."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from mplm_bench.tasks.base import TaskInputError
from mplm_bench.train.data import Transcript
from mplm_bench.train.model import ModelConfig, TinyLlama


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    lr: float = 3e-3
    warmup: int = 100  # steps
    weight_decay: float = 0.01
    batch_tokens: int = 12288  # padded tokens per batch
    seed: int = 0
    eval_every: int = 200  # steps
    checkpoint_every: int = 100  # steps
    device: str = "cpu"  # torch device; on "cuda" the forward pass runs in bfloat16
    # (group, share of steps): a group is a paradigm ("fj") or one role in it ("fj/main");
    # the other steps draw from the transcripts no group holds. Empty: every batch alike.
    mix: tuple[tuple[str, float], ...] = ()


@dataclass
class StepReport:
    step: int
    loss: float
    seconds: float  # wall time of this step
    accuracy: dict[tuple[str, int], float] = field(default_factory=dict)  # held-out, when measured


def make_batches(lengths: Sequence[int], batch_tokens: int) -> list[np.ndarray]:
    """Indices grouped by similar length so padding stays small; each batch holds at most
    batch_tokens tokens counted at its longest member."""
    order = np.argsort(lengths, kind="stable")
    batches, current = [], []
    for index in order:
        if current and (len(current) + 1) * lengths[index] > batch_tokens:
            batches.append(np.array(current))
            current = []
        current.append(index)
    if current:
        batches.append(np.array(current))
    return batches


def in_group(item: Transcript, group: str) -> bool:
    paradigm, _, role = group.partition("/")
    return item.paradigm == paradigm and role in ("", item.role)


def mix_groups(items: Sequence[Transcript], mix: Sequence[tuple[str, float]]
               ) -> tuple[list[np.ndarray], np.ndarray]:
    """Transcript indices of each --mix group (a transcript goes to the first that holds
    it), then of the rest; and the chance that a step draws from each."""
    owner = np.array([next((g for g, (group, _) in enumerate(mix) if in_group(item, group)),
                           len(mix)) for item in items], dtype=np.int64)
    groups = [np.flatnonzero(owner == g) for g in range(len(mix) + 1)]
    for (group, _), members in zip(mix, groups):
        if not len(members):
            raise TaskInputError(f"--mix {group}: no training transcript is in it")
    shares = [share for _, share in mix]
    rest = max(0.0, 1.0 - sum(shares)) if len(groups[-1]) or not mix else 0.0
    chances = np.array(shares + [rest])
    return groups, chances / chances.sum()


def collate(items: Sequence[Transcript]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """inputs [B, T-1], targets [B, T-1], loss weights [B, T-1] (0 on padding)."""
    length = max(len(item.tokens) for item in items)
    tokens = np.zeros((len(items), length), dtype=np.int64)
    mask = np.zeros((len(items), length), dtype=bool)
    for row, item in enumerate(items):
        tokens[row, :len(item.tokens)] = item.tokens
        mask[row, :len(item.mask)] = item.mask
    tokens_t = torch.from_numpy(tokens)
    return tokens_t[:, :-1], tokens_t[:, 1:], torch.from_numpy(mask[:, 1:])


def forward(model: TinyLlama, inputs: torch.Tensor) -> torch.Tensor:
    """Logits for inputs on the model's device; bfloat16 matrices on a GPU, float32 on CPU
    (so CPU training stays bit-for-bit reproducible)."""
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        return model(inputs.to(device, non_blocking=True)).float()


def masked_loss(model: TinyLlama, items: Sequence[Transcript]) -> torch.Tensor:
    inputs, targets, weights = collate(items)
    logits = forward(model, inputs)
    targets, weights = targets.to(logits.device), weights.to(logits.device)
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    weights = weights.flatten().float()
    return (losses * weights).sum() / weights.sum().clamp(min=1)


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, progress))))


StepKey = Callable[[Transcript, int, int, int], tuple]  # (item, step index, start, end) -> group


def by_paradigm_and_size(item: Transcript, index: int, start: int, end: int) -> tuple:
    return item.paradigm, item.size


@dataclass(frozen=True)
class StepResult:
    item: Transcript
    index: int  # the thread's index-th step
    start: int  # the step's tokens are item.tokens[start:end]
    end: int
    right: bool  # every token of it was the argmax, given the oracle's context


@torch.no_grad()
def teacher_forced_steps(model: TinyLlama, items: Sequence[Transcript],
                         batch_tokens: int = 16384) -> Iterator[StepResult]:
    """Every step (segment) of every transcript, scored teacher-forced."""
    model.eval()
    try:
        lengths = [len(item.tokens) for item in items]
        for batch in make_batches(lengths, batch_tokens):
            group = [items[i] for i in batch]
            inputs, targets, _ = collate(group)  # every step token counts alike here
            hits = (forward(model, inputs).argmax(-1).cpu() == targets).numpy()
            for row, item in enumerate(group):
                for index, (start, end) in enumerate(_spans(item.mask)):
                    yield StepResult(item, index, start, end, bool(hits[row, start - 1:end - 1].all()))
    finally:
        model.train()


def tally_steps(steps: Iterable[StepResult], key: StepKey = by_paradigm_and_size
                ) -> dict[tuple, tuple[int, int]]:
    """group -> (right steps, steps); groups are (paradigm, size) unless `key` says."""
    counts: dict[tuple, list[int]] = {}
    for step in steps:
        tally = counts.setdefault(key(step.item, step.index, step.start, step.end), [0, 0])
        tally[0] += step.right
        tally[1] += 1
    return {group: (right, total) for group, (right, total) in counts.items()}


def step_accuracy(model: TinyLlama, items: Sequence[Transcript], batch_tokens: int = 16384,
                  key: StepKey = by_paradigm_and_size) -> dict[tuple, tuple[int, int]]:
    return tally_steps(teacher_forced_steps(model, items, batch_tokens), key)


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class Trainer:
    def __init__(self, model_config: ModelConfig, config: TrainConfig,
                 train: Sequence[Transcript], heldout: Sequence[Transcript]):
        self.config, self.train_set, self.heldout = config, train, heldout
        torch.manual_seed(config.seed)
        self.model = TinyLlama(model_config).to(config.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           betas=(0.9, 0.98), weight_decay=config.weight_decay)
        self.rng = np.random.default_rng(config.seed)
        self.groups, self.chances = mix_groups(train, config.mix)
        lengths = np.array([len(t.tokens) for t in train], dtype=np.int64)
        self.batches = [[members[batch] for batch in make_batches(lengths[members],
                                                                  config.batch_tokens)]
                        for members in self.groups]  # per group: transcript indices
        self.queues: list[list[int]] = [[] for _ in self.groups]  # batches left in each epoch
        self.step = 0
        self.seconds = 0.0  # training wall time so far, resumed runs included

    def _next_batch(self) -> list[Transcript]:
        # without --mix no group is drawn, so the batch order is what it was before --mix
        group = int(self.rng.choice(len(self.groups), p=self.chances)) if len(self.groups) > 1 else 0
        if not self.queues[group]:
            self.queues[group] = self.rng.permutation(len(self.batches[group])).tolist()
        return [self.train_set[i] for i in self.batches[group][self.queues[group].pop()]]

    def train_step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.step)
        loss = masked_loss(self.model, self._next_batch())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step += 1
        return loss.item()

    def run(self, on_step: Callable[[StepReport], None], deadline: float | None = None,
            checkpoint: Path | None = None) -> bool:
        """Train to config.steps (or the deadline, in time.monotonic seconds); True when done."""
        while self.step < self.config.steps:
            if deadline is not None and time.monotonic() > deadline:
                break
            start = time.monotonic()
            report = StepReport(self.step + 1, self.train_step(), 0.0)
            report.seconds = time.monotonic() - start
            if self.step % self.config.eval_every == 0 or self.step == self.config.steps:
                report.accuracy = {k: r / max(1, t) for k, (r, t) in
                                   step_accuracy(self.model, self.heldout).items()}
            self.seconds += time.monotonic() - start
            if checkpoint is not None and self.step % self.config.checkpoint_every == 0:
                self.save(checkpoint)
            on_step(report)
        if checkpoint is not None:
            self.save(checkpoint)
        return self.step >= self.config.steps

    def save(self, path: Path) -> None:
        torch.save({"step": self.step, "seconds": self.seconds, "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "queues": self.queues,
                    "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "config": asdict(self.config)}, path)

    def load(self, path: Path) -> None:
        state = torch.load(path, weights_only=False, map_location=self.config.device)
        made_with = [tuple(group) for group in state["config"].get("mix", ())]
        if made_with != list(self.config.mix):  # its batch queues are per group
            shown = ",".join(f"{group}:{share:g}" for group, share in made_with) or "unset"
            raise TaskInputError(f"{path} was made with --mix {shown}; resume with the same --mix")
        self.step, self.seconds = state["step"], state["seconds"]
        self.queues = state["queues"] if "queues" in state else [state["queue"]]  # before --mix
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
