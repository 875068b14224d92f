"""The replay policy: the reference programs' tokens decoded by a real model (the shipped
1 MB sudoku-protocol model, fast on a CPU). With a slot for every thread the run is the
oracle's, token for token; with fewer slots threads take turns, and every run still solves."""
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


def test_replay_with_fewer_slots_than_threads_still_solves_every_puzzle(tmp_path, oracle_rows):
    replay = run_rows(tmp_path, "r", "--policy", "replay", "--seq-max", "16", "--threads", "2")
    assert all(row["status"] == "solved" and row["correct"] for row in replay)
    threads = {(r["instance_id"], r["paradigm"]): r["threads"] for r in oracle_rows}
    assert all(row["threads"] == threads[row["instance_id"], row["paradigm"]] for row in replay)
    cot = [(r["generated_tokens"], r["critical_path_tokens"]) for r in replay if r["paradigm"] == "cot"]
    assert cot == [(r["generated_tokens"], r["critical_path_tokens"])
                   for r in oracle_rows if r["paradigm"] == "cot"]  # one thread: no turns to take
