"""The model policy drives the real small model through the scheduler."""
import json
import random

from typer.testing import CliRunner

from mplm_bench.backends.base import BackendConfig, SamplingConfig
from mplm_bench.backends.llamacpp import LlamaCppBackend
from mplm_bench.cli import app
from mplm_bench.paradigms import COT
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.runtime import protocol
from mplm_bench.runtime.records import Budgets
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import RunStatus, Thread, ThreadSpec


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


class PieceTokenizer:
    """Token i is PIECES[i]: newlines inside pieces, at their ends and before an "@"."""
    PIECES = ["<eos>", "I see", " 3", "\n", "\n@", "@", "set", " r1c2 4", "4\n", "x\ny\n", " so",
              "\n\n", "send", " @answer 5", "ok.\nthen"]
    bos, eos = None, 0

    def decode(self, tokens) -> str:
        return "".join(self.PIECES[t] for t in tokens)


class TextOnly:
    """A backend for segment_text alone: a tokenizer and a sampler to reset."""
    tokenizer = PieceTokenizer()

    def reset_sampler(self, thread: int) -> None:
        pass


def test_segment_ends_exactly_where_a_full_read_of_its_text_would_end_it():
    # the gated read (last lines only, at newline tokens) against a full read every step
    rng = random.Random(7)
    ends = 0
    for tolerant in (False, True):
        policy = ModelPolicy(TextOnly(), tolerant=tolerant)
        thread = Thread(0, "t", "t")
        for _ in range(300):
            policy.begin_segment(thread)
            thread.pending = []
            while True:
                thread.pending.append(rng.randrange(1, len(PieceTokenizer.PIECES)))
                text = PieceTokenizer().decode(thread.pending)
                want = text if protocol.find_action_end(text, tolerant) is not None else None
                assert policy.segment_text(thread) == want, (tolerant, thread.pending)
                if want is not None or len(thread.pending) > 40:
                    ends += want is not None
                    break
        policy.begin_segment(thread)
        thread.pending = [1, 0]
        assert policy.segment_text(thread) == "I see<eos>"  # end of text ends a segment
    assert ends > 500  # nearly every random segment reached an action line
