"""bench decode: the runtime beside the raw llama.cpp loop, at a chosen prompt length."""
import re

from typer.testing import CliRunner

from mplm_bench.backends.llamacpp_load import load_tokenizer
from mplm_bench.bench import BENCH_TEXT, bench_prompt, runtime_decode
from mplm_bench.cli import app
from mplm_bench.models import resolve_model


def test_bench_prompt_is_the_shortest_count_that_reaches_the_context(tokenizer):
    assert bench_prompt(tokenizer, 0) == BENCH_TEXT
    for context in (300, 1000):
        prompt = bench_prompt(tokenizer, context)
        assert len(tokenizer.encode(prompt)) >= context
        shorter = prompt.rsplit(" ", 5)[0]  # the count grows five numbers at a time
        assert len(tokenizer.encode(shorter)) < context


def test_protocol_model_threads_decode_for_the_whole_measurement():
    # the protocol model writes an action line within a few tokens; the bench policy turns
    # its "@" and end tokens into filler, so all 3 threads decode all 40 steps
    path = str(resolve_model("sudoku-protocol"))
    prompt = bench_prompt(load_tokenizer(path), 100)
    assert runtime_decode(path, 3, 40, prompt, n_threads=2, n_gpu_layers=0) > 0


def test_bench_decode_table_has_prompt_tokens_and_ratio_per_width():
    result = CliRunner().invoke(app, ["bench", "decode", "--threads", "1,4", "--tokens", "12",
                                      "--context", "200", "--model", "sudoku-protocol",
                                      "--repeats", "1", "--cpu-threads", "2"])
    assert result.exit_code == 0, result.output
    rows = re.findall(r"^\W*(\d+)\W+([\d,]+)\W+([\d,.]+)\W+([\d,.]+)\W+(\d+\.\d\d)\W*$",
                      result.output, re.M)
    assert [row[0] for row in rows] == ["1", "4"]
    for _, prompt_tokens, ours, raw, ratio in rows:
        assert int(prompt_tokens.replace(",", "")) >= 200
        ours, raw = float(ours.replace(",", "")), float(raw.replace(",", ""))
        assert abs(float(ratio) - ours / raw) < 0.01
