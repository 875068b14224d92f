"""Run a task's instances under each paradigm with one policy, writing a row per run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol, Sequence

from mplm_bench.backends.base import BackendConfig, SamplingConfig
from mplm_bench.backends.openai_client import ServerOptions
from mplm_bench.metrics import ResultRow, decide_status, make_row
from mplm_bench.models import resolve_model, run_defaults, sha256_file
from mplm_bench.paradigms import Paradigm
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.policies.replay import ReplayPolicy
from mplm_bench.policies.server import ServerPolicy, ServerSession
from mplm_bench.results import (ROWS_FILE, ResultsError, RowWriter, prepare_dir, read_rows,
                                truncate_torn_tail, write_run_record, write_trace)
from mplm_bench.runtime import protocol
from mplm_bench.runtime.records import Budgets, Policy
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import ThreadSpec
from mplm_bench.runtime.trace import Trace
from mplm_bench.tasks.base import Instance, RunSetup, Task

POLICIES = ("model", "oracle", "replay")
# A real model decodes 20-100 tokens/s on 2 CPU cores: its defaults keep a run to a minute
# or so; the window is SmolLM2's training context. The oracle only counts, so it gets room.
MODEL_BUDGETS = Budgets(max_tokens=2048, window=8192)
# backend settings of a run unless the command line or the model (models.run_defaults) says
# otherwise: on a CPU every step attends over all resident threads' cells
RUN_BACKEND_DEFAULTS = dict(n_seq_max=16)


def policy_budgets(policy: str, max_tokens: int, window: int, max_threads: int,
                   wall_s: float, model_defaults: dict | None = None,
                   max_live_kv: int = 0) -> Budgets:
    """Budgets with 0 meaning the policy's default (or the model's, models.run_defaults)."""
    model_defaults = model_defaults or {}
    base = Budgets()
    if policy != "oracle":  # a real backend holds the contexts: the model's window
        base = Budgets(model_defaults.get("max_tokens", MODEL_BUDGETS.max_tokens),
                       model_defaults.get("window", MODEL_BUDGETS.window),
                       max_live_kv=model_defaults.get("max_live_kv", 0))
    if policy == "replay":  # a perfect model writes what the oracle writes
        base = replace(base, max_tokens=Budgets().max_tokens)
    return Budgets(max_tokens or base.max_tokens, window or base.window, max_threads, wall_s,
                   max_live_kv or base.max_live_kv)


@dataclass
class RunConfig:
    task: str
    size: int
    paradigms: list[str]
    policy: str = "model"
    model: str | None = None  # known name or GGUF path; None = default
    instances: int = 3
    seed: int = 0
    out: str = "results"
    resume: bool = False
    budgets: Budgets = field(default_factory=Budgets)
    backend: dict = field(default_factory=dict)  # BackendConfig fields but model_path
    temperature: float = 0.0
    grammar: bool = False  # constrain each segment's syntax with the protocol's GBNF
    tolerant: bool = False  # read actions as prompted models write them, counting repairs
    trace: bool = False  # write traces/<instance>-<paradigm>.jsonl per run
    suite: str | None = None  # the suite this run belongs to (compare checks it)
    task_options: dict = field(default_factory=dict)
    server: ServerOptions = field(default_factory=ServerOptions)  # --backend openai and its options


class Reporter(Protocol):
    def begin(self, total: int, done: int) -> None: ...
    def tokens(self, count: int) -> None: ...
    def row(self, row: ResultRow) -> None: ...


class _PolicyFactory:
    """Makes a policy per run; the model (and its backend) load once per command."""

    def __init__(self, config: RunConfig, prepared: "PreparedRun"):
        self.config, self.model_path, self.server = config, prepared.model_path, prepared.server
        self.model_label = self.server.model if self.server else self.model_path.name
        self._backends: dict[frozenset, object] = {}

    def tokenizer(self):
        if self.server is not None:
            return self.server.tokenizer
        from mplm_bench.backends.llamacpp_load import load_tokenizer
        return load_tokenizer(str(self.model_path))

    def make(self, programs: Callable[[], dict], verbs: frozenset[str],
             specs: Sequence[ThreadSpec] = ()) -> Policy:
        if self.config.policy == "oracle":
            return OraclePolicy(self.tokenizer(), programs())
        if self.server is not None:
            return self.server.policy({spec.name: spec.prompt for spec in specs},
                                      self._sampling(verbs), self.config.budgets,
                                      self.config.tolerant)
        if verbs not in self._backends:  # the grammar depends on the paradigm's verbs
            self._backends[verbs] = self._backend(verbs)
        if self.config.policy == "replay":
            return ReplayPolicy(self._backends[verbs], programs())
        return ModelPolicy(self._backends[verbs], self.config.tolerant)

    def _backend(self, verbs: frozenset[str]):
        from mplm_bench.backends.llamacpp import LlamaCppBackend
        defaults = {key: value for key, value in run_defaults(str(self.model_path)).items()
                    if key in BackendConfig.__dataclass_fields__}
        defaults = {**RUN_BACKEND_DEFAULTS, **defaults}
        backend_config = BackendConfig(model_path=str(self.model_path),
                                       **{**defaults, **self.config.backend})
        return LlamaCppBackend(backend_config, self._sampling(verbs))

    def _sampling(self, verbs: frozenset[str]) -> SamplingConfig:
        grammar = protocol.grammar(verbs) if self.config.grammar else None
        return SamplingConfig(self.config.temperature, self.config.seed, grammar=grammar)

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        if self.server is not None:
            self.server.close()


def schedule(setup: RunSetup, paradigm: Paradigm, policy: Policy, budgets: Budgets = Budgets(),
             tolerant: bool = False, on_step: Callable[[int], None] | None = None,
             trace: Trace | None = None) -> Scheduler:
    """The scheduler of one run: the task's threads and every hook its setup gives."""
    return Scheduler(setup.specs, paradigm.verbs, policy, budgets,
                     answer_complete=lambda answers: setup.answer_from(answers) is not None,
                     on_step=on_step, trace=trace, on_segment=setup.on_segment,
                     tolerant=tolerant, expand_task=setup.expand_task)


def run_one(task: Task, instance: Instance, paradigm: Paradigm, factory: _PolicyFactory,
            config: RunConfig, on_tokens: Callable[[int], None],
            trace: Trace | None = None) -> ResultRow:
    setup = task.setup(instance, paradigm)
    policy = factory.make(setup.programs, paradigm.verbs, setup.specs)
    outcome = schedule(setup, paradigm, policy, config.budgets, config.tolerant,
                       on_step=on_tokens, trace=trace).run()
    answer = setup.answer_from(outcome.answers)
    correct = answer is not None and outcome.status is None and setup.check(answer)
    status = decide_status(outcome, correct)
    task_metrics = setup.task_metrics(outcome, answer) if setup.task_metrics else None
    return make_row(outcome, status, correct, task_metrics, task=task.name, size=instance.size,
                    instance_id=instance.id, paradigm=paradigm.name, policy=config.policy,
                    model=factory.model_label, seed=config.seed,
                    server=policy.usage.to_dict() if isinstance(policy, ServerPolicy) else None)


@dataclass
class PreparedRun:
    out: Path
    model_path: Path | None  # None: a server runs the model (see server)
    done: dict[tuple[str, str], dict]  # (instance_id, paradigm) -> row already written
    server: ServerSession | None = None  # --backend openai: the checked server connection

    def model_record(self) -> dict:
        if self.server is not None:
            return self.server.record()
        return {"path": str(self.model_path), "sha256": sha256_file(self.model_path)}


def prepare_run(config: RunConfig) -> PreparedRun:
    """Check the model and the output folder before any work starts (bad input: exit 2);
    the folder is made only once the model is found."""
    config.server.check()
    model_path = None if config.server.uses_server else resolve_model(config.model, config.task)
    out = prepare_dir(Path(config.out))
    done = {}
    if config.resume:
        truncate_torn_tail(out)
        done = {(row["instance_id"], row["paradigm"]): row for row in read_rows(out)}
    elif (out / ROWS_FILE).exists() and (out / ROWS_FILE).stat().st_size:
        # appending would repeat rows and overwrite the run.json those rows were made with
        raise ResultsError(f"{out} already holds results; add --resume to finish that run, "
                           "or choose another --out")
    if config.server.uses_server:  # the model is the server's: check it answers for it now
        return PreparedRun(out, None, done, ServerSession(config.server, config.model))
    return PreparedRun(out, model_path, done)


def run_benchmark(task: Task, instances: Sequence[Instance], paradigms: Sequence[Paradigm],
                  config: RunConfig, prepared: PreparedRun, reporter: Reporter) -> list[dict]:
    """Run every instance x paradigm not already in the folder; returns all rows."""
    done = prepared.done
    write_run_record(prepared.out, asdict(config), prepared.model_record())
    factory = _PolicyFactory(config, prepared)
    writer = RowWriter(prepared.out)
    rows = list(done.values())
    todo = [(i, p) for i in instances for p in paradigms if (i.id, p.name) not in done]
    reporter.begin(len(todo) + len(done), len(done))
    try:
        for instance, paradigm in todo:
            trace = Trace() if config.trace else None
            row = run_one(task, instance, paradigm, factory, config, reporter.tokens, trace)
            if trace is not None:
                write_trace(prepared.out, row, trace.events)
            writer.write(row)
            rows.append(row.to_dict())
            reporter.row(row)
    finally:
        writer.close()
        factory.close()
    return rows
