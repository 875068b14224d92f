"""The model policy drives the real small model through the scheduler."""
import json

from typer.testing import CliRunner

from mplm_bench.backends.base import BackendConfig, SamplingConfig
from mplm_bench.backends.llamacpp import LlamaCppBackend
from mplm_bench.cli import app
from mplm_bench.paradigms import COT
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.runtime import protocol
from mplm_bench.runtime.records import Budgets
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import RunStatus, ThreadSpec


def test_grammar_constrained_threads_write_only_valid_actions(model_path):
    sampling = SamplingConfig(grammar=protocol.grammar(COT.verbs))
    config = BackendConfig(model_path, n_ctx=2048, n_seq_max=4, n_threads=2)
    specs = [ThreadSpec(f"t{i}", "t", f"Question {i}: what is {i} + {i}? Reply as @answer <number>.\n")
             for i in range(3)]
    with LlamaCppBackend(config, sampling) as backend:
        outcome = Scheduler(specs, COT.verbs, ModelPolicy(backend), Budgets(max_tokens=240)).run()
    assert outcome.status in (None, RunStatus.BUDGET_EXHAUSTED), outcome.detail
    assert outcome.accounting.generated_tokens > 0
    for thread in outcome.threads:
        if thread.end == "answer":  # the grammar made its last segment an @answer line
            text = backend.tokenizer.decode(thread.tokens)
            assert protocol.parse_action(text.rstrip("\n").rsplit("\n", 1)[-1]).verb == "answer"


def test_a_model_run_decodes_under_every_paradigm(tmp_path):
    result = CliRunner().invoke(app, ["run", "sudoku", "--size", "4", "--policy", "model",
                                      "--instances", "1", "--max-tokens", "48", "--threads", "2",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [row["paradigm"] for row in rows] == ["mplm", "cot", "fj"]
    for row in rows:
        assert row["policy"] == "model" and row["generated_tokens"] > 0
        assert row["status"] in {s.value for s in RunStatus}
        total = row["prefill_tokens"] + row["kv_copied_tokens"] + row["generated_tokens"]
        assert total >= row["peak_thread_context"] > 0
