"""One results row per instance x paradigm, built from a run's outcome (DESIGN.md, Metrics)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mplm_bench.runtime.records import RunOutcome
from mplm_bench.runtime.thread import RunStatus

# 2: rows may carry task-specific metrics as extra columns (task_metrics, flattened)
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ResultRow:
    schema_version: int
    task: str
    size: int
    instance_id: str
    paradigm: str
    policy: str
    model: str
    seed: int
    status: str
    correct: bool
    detail: str
    generated_tokens: int  # sampled, all threads
    prefill_tokens: int  # prompts, delivered messages, join results, fork task lines
    kv_copied_tokens: int  # shared into children by fork copies, not recomputed
    peak_thread_context: int  # largest context of any thread at any time
    peak_live_kv: int  # largest sum of live threads' contexts at any time
    critical_path_tokens: int  # batched decode steps
    threads: int
    max_concurrent: int  # most threads runnable in one step
    preempted: int  # threads that exited right after a peer's unasked message
    messages: int  # delivered messages and join results
    message_tokens: int
    dropped_messages: int  # sent to threads that had already finished
    protocol_repairs: int  # fixes a tolerant parse made to model segments (--tolerant)
    wall_s: float  # seconds
    decode_tok_s: float  # generated tokens per second of wall time
    server: dict | None = None  # --backend openai: the server's own counts (ServerUsage)
    # the task's own metrics (e.g. SAT tokens_after_solution, QA em/f1), written as columns
    task_metrics: dict[str, float] = field(default_factory=dict)

    def key(self) -> tuple[str, str]:
        return (self.instance_id, self.paradigm)

    def to_dict(self) -> dict:
        row = asdict(self)
        row = asdict(self)
        if row["server"] is None:  # in-process rows keep their fields
            del row["server"]
        extra = row.pop("task_metrics")
        clash = set(extra) & set(row)
        if clash:
            raise ValueError(f"task metric names clash with row columns: {sorted(clash)}")
        return {**row, **extra}


def decide_status(outcome: RunOutcome, correct: bool) -> RunStatus:
    """The runtime's own status if it stopped the run, else what the verifier says."""
    if outcome.status is not None:
        return outcome.status
    return RunStatus.SOLVED if correct else RunStatus.WRONG


def make_row(outcome: RunOutcome, status: RunStatus, correct: bool,
             task_metrics: dict[str, float] | None = None, server: dict | None = None,
             **identity) -> ResultRow:
    acc = outcome.accounting
    wall = round(outcome.wall_s, 4)
    return ResultRow(
        schema_version=SCHEMA_VERSION,
        status=status.value,
        correct=correct,
        detail=outcome.detail,
        generated_tokens=acc.generated_tokens,
        prefill_tokens=acc.prefill_tokens,
        kv_copied_tokens=acc.kv_copied_tokens,
        peak_thread_context=acc.peak_thread_context,
        peak_live_kv=acc.peak_live_kv,
        critical_path_tokens=outcome.ticks,
        threads=len(outcome.threads),
        max_concurrent=acc.max_concurrent,
        preempted=sum(t.preempted for t in outcome.threads),
        messages=acc.messages,
        message_tokens=acc.message_tokens,
        dropped_messages=acc.dropped_messages,
        protocol_repairs=acc.protocol_repairs,
        wall_s=wall,
        decode_tok_s=round(acc.generated_tokens / outcome.wall_s, 1) if outcome.wall_s > 0 else 0.0,
        server=server,
        task_metrics=dict(task_metrics or {}),
        **identity,
    )
