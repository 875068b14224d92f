"""The replay policy: the reference programs' tokens decoded by a real model (the shipped
1 MB sudoku-protocol model, fast on a CPU). With a slot for every thread the run is the
oracle's, token for token; with fewer slots threads take turns inside each step, and the
run is still the oracle's."""
import json

import pytest
from typer.testing import CliRunner

from mplm_bench.cli import app

COUNTS = ("status", "correct", "generated_tokens", "prefill_tokens", "kv_copied_tokens",
          "critical_path_tokens", "threads", "messages", "message_tokens", "peak_thread_context")


def run_rows(tmp_path, name: str, *args: str) -> list[dict]:
    out = tmp_path / name
    result = CliRunner().invoke(app, ["run", "sudoku", "--size", "4", "--instances", "2",
                                      "--model", "sudoku-protocol", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def oracle_rows(tmp_path_factory):
    return run_rows(tmp_path_factory.mktemp("oracle"), "o", "--policy", "oracle")


def test_replay_with_a_slot_per_thread_is_the_oracle_run_token_for_token(tmp_path, oracle_rows):
    replay = run_rows(tmp_path, "r", "--policy", "replay", "--seq-max", "64", "--threads", "2")
    assert [(r["instance_id"], r["paradigm"]) for r in replay] == \
        [(r["instance_id"], r["paradigm"]) for r in oracle_rows]
    for mine, oracle in zip(replay, oracle_rows):
        assert mine["policy"] == "replay" and mine["decode_tok_s"] > 0
        assert {key: mine[key] for key in COUNTS} == {key: oracle[key] for key in COUNTS}


def test_replay_with_fewer_slots_than_threads_is_still_the_oracle_run(tmp_path, oracle_rows):
    # 4 slots for up to ~20 threads: they decode in turns within each step, so no count moves
    replay = run_rows(tmp_path, "r", "--policy", "replay", "--seq-max", "4", "--threads", "2")
    assert max(r["threads"] for r in replay) > 4
    for mine, oracle in zip(replay, oracle_rows):
        assert {key: mine[key] for key in COUNTS} == {key: oracle[key] for key in COUNTS}
