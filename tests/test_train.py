"""Training a tiny protocol model: vocabulary, loss masks, GGUF export, and llama.cpp's
greedy text equal to PyTorch's. Skipped only where the train extra (torch) is missing."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra is not installed: pip install -e '.[train]'")

from mplm_bench.backends.base import BackendConfig, SamplingConfig  # noqa: E402
from mplm_bench.backends.llamacpp import LlamaCppBackend  # noqa: E402
from mplm_bench.backends.llamacpp_load import load_tokenizer  # noqa: E402
from mplm_bench.runtime import protocol  # noqa: E402
from mplm_bench.tasks.base import TaskInputError  # noqa: E402
from mplm_bench.train.data import (load_transcripts, oracle_threads, save_transcripts,  # noqa: E402
                                 step_kind, sudoku_transcripts, transcript)
from mplm_bench.train.export import write_gguf  # noqa: E402
from mplm_bench.train.gguf_import import read_gguf  # noqa: E402
from mplm_bench.train.model import ModelConfig, TinyLlama  # noqa: E402
from mplm_bench.train.pipeline import sudoku_vocabulary  # noqa: E402
from mplm_bench.train.trainer import TrainConfig, Trainer, step_accuracy  # noqa: E402
from mplm_bench.train.vocab import SPACE, protocol_pieces  # noqa: E402

TINY = dict(d_model=64, layers=2, heads=4)
SHIPPED = Path(__file__).resolve().parent.parent / "models" / "sudoku-protocol.gguf"


@pytest.fixture(scope="module")
def vocab():
    return sudoku_vocabulary()


@pytest.fixture(scope="module")
def vocab_file(vocab, tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.gguf"
    torch.manual_seed(0)
    write_gguf(TinyLlama(ModelConfig(len(vocab), **TINY)), vocab, path, "vocab")
    return path


def test_every_piece_is_one_token_in_llama_cpp(vocab, vocab_file):
    tokenizer = load_tokenizer(str(vocab_file))
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    for piece in protocol_pieces():
        assert tokenizer.encode(piece.replace(SPACE, " ")) == [ids[piece]], piece
    text = "@send r12c3,r12#15n,c3#15n,b11#15n r12c3!15\n<< r1c4#4: r1c4=4\nleft 12\n"
    pieces = [vocab.tokens[t] for t in tokenizer.encode(text)]
    assert pieces == ["@send", "▁r12", "c3", ",", "r12", "#15", "n", ",", "c3", "#15", "n", ",",
                      "b11", "#15", "n", "▁r12", "c3", "!15", "<0x0A>", "<<", "▁r1", "c4", "#4",
                      ":", "▁r1", "c4", "=4", "<0x0A>", "left", "▁12", "<0x0A>"]
    assert tokenizer.decode(tokenizer.encode("é ü\n")) == "é ü\n"  # byte fallback


def test_the_loss_mask_covers_exactly_what_each_thread_wrote(vocab_file):
    tokenizer = load_tokenizer(str(vocab_file))
    for paradigm in ("mplm", "fj"):
        threads = oracle_threads(tokenizer, 4, paradigm, seed=1)
        for thread in threads:
            item = transcript(thread, paradigm, 4)
            assert int(item.mask.sum()) == thread.generated_tokens
            # a step is a run of generated tokens: back-to-back segments make one run
            assert 1 <= item.steps <= len(thread.generated_spans)
            assert len(thread.generated_spans) >= thread.segments
            text = tokenizer.decode(item.tokens[item.mask].tolist())
            assert text.count("\n") >= item.steps and protocol.ACTION_MARK in text
            prompt_end = thread.prompt_tokens + thread.copied_tokens
            assert not item.mask[:prompt_end].any()  # prompt and copied context: no loss


def test_a_briefly_trained_model_decodes_the_same_in_llama_cpp_and_pytorch(vocab, vocab_file,
                                                                         tmp_path):
    tokenizer = load_tokenizer(str(vocab_file))
    train = list(sudoku_transcripts(tokenizer, [4], ["mplm"], range(1, 4), 512))
    heldout = list(sudoku_transcripts(tokenizer, [4], ["mplm"], [50], 512))
    trainer = Trainer(ModelConfig(len(vocab), context=512, **TINY),
                      TrainConfig(steps=40, warmup=5, batch_tokens=4096, eval_every=40), train,
                      heldout[:8])
    losses = []
    assert trainer.run(lambda report: losses.append(report.loss))
    assert len(losses) == 40 and losses[-1] < losses[0] / 2
    path = tmp_path / "tiny.gguf"
    write_gguf(trainer.model, vocab, path, "tiny", float16=False)
    model = read_gguf(path)  # the file holds the trained weights
    for mine, theirs in zip(trainer.model.parameters(), model.parameters()):
        assert torch.equal(mine, theirs)
    with LlamaCppBackend(BackendConfig(str(path), n_ctx=4096, n_seq_max=4, n_threads=2,
                                       exact=True), SamplingConfig()) as backend:
        for item in heldout[:6]:
            start = int(np.flatnonzero(item.mask)[0])  # the thread's first segment
            prompt = item.tokens[:start].tolist()
            want = model.greedy(prompt, 16)
            got = [backend.step({0: prompt})[0]]
            while len(got) < 16:
                got.append(backend.step({0: [got[-1]]})[0])
            backend.release(0)
            assert got == want
    right, total = step_accuracy(model, heldout)[("mplm", 4)]
    assert total == sum(item.steps for item in heldout) and 0 <= right <= total
    by_role = step_accuracy(model, heldout, key=lambda item, index, start, end: (item.role,))
    assert set(by_role) <= {("candidate",), ("unit-digit",)}
    assert sum(t for _, t in by_role.values()) == total
    assert sum(r for r, _ in by_role.values()) == right


def test_a_step_kind_names_the_role_the_first_step_and_each_line_head():
    later = "left 1\n@send r1c1,r1#4,c1#4,b1#4 r1c1=4\n"
    assert step_kind("candidate", later, False) == "candidate, later: left @send"
    assert step_kind("unit-digit", "open 2\n@recv\n", False) == "unit-digit, later: open @recv"
    assert step_kind("main", "r1c1=4\nr2c3=1\n@answer 4132\n", True) == "main, first: fact @answer"


def test_eval_steps_by_kind_splits_the_same_steps(tmp_path):
    from cli_checks import invoke

    args = ["eval-steps", "models/sudoku-protocol.gguf", "--sizes", "4", "--paradigms", "mplm"]
    plain, kinds = invoke(*args), invoke(*args, "--by-kind")
    assert plain.exit_code == 0 and kinds.exit_code == 0, plain.output + kinds.output

    def steps(output: str, label: str) -> list[int]:
        return [int(line.split("│")[2]) for line in output.splitlines() if label in line]

    assert "paradigm size | step kind" in kinds.output
    assert steps(kinds.output, "mplm 4 | unit-digit, first: @recv") != []
    assert sum(steps(kinds.output, "mplm 4 |")) == sum(steps(plain.output, "mplm 4 "))


def test_eval_steps_shows_wrong_steps_one_group_at_a_time():
    from mplm_bench.train.pipeline import eval_steps

    # the shipped model gets CoT steps (a solved grid without working) and FJ steps wrong
    result = eval_steps(SHIPPED, [4], ["cot", "fj"], 1, 2048, by_kind=True, errors=3)
    wrong_groups = sorted(g for g, row in result.table.items() if row["right"] < row["steps"])
    assert len(wrong_groups) >= 3  # else this model no longer tests the round robin
    assert [step.group for step in result.wrong] == wrong_groups[:3]
    for step in result.wrong:
        assert step.before.startswith("Sudoku 4x4")
        assert step.want.endswith("\n") and step.got != step.want
    assert eval_steps(SHIPPED, [4], ["cot", "fj"], 1, 2048).wrong == []  # none unless asked


def test_eval_steps_with_cut_long_also_scores_the_cut_fj_root():
    from mplm_bench.train.pipeline import eval_steps

    whole = eval_steps(SHIPPED, [9], ["fj"], 1, 2048, by_kind=True).table
    cut = eval_steps(SHIPPED, [9], ["fj"], 1, 2048, by_kind=True, cut_long=True).table
    roots = {group: row for group, row in cut.items() if group not in whole}
    assert roots and all(group.startswith("fj 9 | main") for group in roots)
    assert {group: cut[group] for group in whole} == whole


def test_eval_steps_prints_the_wrong_steps():
    from cli_checks import invoke

    shown = invoke("eval-steps", str(SHIPPED), "--sizes", "4", "--paradigms", "fj", "--errors", "2")
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("wrong step ") == 2 and shown.output.count("oracle:") == 2


@pytest.mark.parametrize("args, words", [
    (["train", "sudoku", "--sizes", "10", "--out", "x.gguf"], "must be one of 4, 9, 16, 25"),
    (["train", "sudoku", "--paradigms", "bogus", "--out", "x.gguf"], "unknown paradigm 'bogus'"),
    (["eval-steps", "/nonexistent/model.gguf"], "model file not found"),
    (["train", "sudoku", "--puzzles", "4:x", "--out", "x.gguf"], "'4:x' is not SIZE:COUNT"),
    (["train", "sudoku", "--puzzles", "7:3", "--out", "x.gguf"], "must be one of 4, 9, 16, 25"),
    (["train", "sudoku", "--puzzles", "tot/4:3", "--out", "x.gguf"], "unknown paradigm 'tot'"),
    (["train", "sudoku", "--device", "tpu", "--out", "x.gguf"], "must be auto, cpu or cuda"),
    (["train", "sudoku", "--d-model", "100", "--heads", "3", "--out", "x.gguf"], "even head width"),
    (["train", "sudoku", "--init", "/nonexistent/m.gguf", "--out", "x.gguf"], "model file not found"),
    (["train", "sudoku", "--mix", "fj/mian:0.3", "--out", "x.gguf"], "'fj/mian:0.3' is not PARADIGM"),
    (["train", "sudoku", "--mix", "fj:0", "--out", "x.gguf"], "a share in (0, 1]"),
    (["train", "sudoku", "--mix", "fj:0.3,fj/main:0.2", "--out", "x.gguf"], "fj/main overlaps fj"),
    (["train", "sudoku", "--mix", "fj:0.7,cot:0.5", "--out", "x.gguf"], "add up to 1.2, more than 1"),
    (["train", "sudoku", "--paradigms", "mplm", "--mix", "cot:0.2", "--out", "x.gguf"],
     "--mix cot: its paradigm is not in --paradigms"),
])
def test_bad_training_input_is_one_line_and_exit_2(args, words):
    from cli_checks import invoke, one_line_error

    one_line_error(invoke(*args), words)


def test_files_train_did_not_write_are_one_line_and_exit_2(model_path, tmp_path):
    from cli_checks import invoke, one_line_error

    other_model = "not a model written by `mplm-bench train` (token_embd.weight is Q8_0"
    one_line_error(invoke("eval-steps", model_path, "--sizes", "4"), other_model)
    one_line_error(invoke("train", "sudoku", "--init", model_path, "--out", tmp_path / "m.gguf"),
                   other_model)
    (tmp_path / "data.npz").write_text("not numpy")
    one_line_error(invoke("train", "sudoku", "--data", tmp_path / "data.npz",
                          "--out", tmp_path / "m.gguf"),
                   "data.npz: not a transcripts file written by `train --data`")
    one_line_error(invoke("train", "sudoku", "--out", tmp_path / "data.npz" / "m.gguf"),
                   "cannot write to output folder")  # its folder would be a file


def test_puzzle_counts_per_paradigm_win_over_counts_per_size(vocab_file):
    from mplm_bench.console_train import parse_puzzles
    from mplm_bench.train.pipeline import TrainOptions, load_data, used_counts

    puzzles = parse_puzzles("4:2,cot/4:5,fj/9:7")
    assert puzzles == {"4": 2, "9": 24, "16": 4, "25": 2, "cot/4": 5, "fj/9": 7}
    assert used_counts(puzzles, [4], ["mplm", "cot"]) == {"4": 2, "cot/4": 5}
    options = TrainOptions([4], ["mplm", "cot"], Path("m.gguf"), puzzles=puzzles)
    items = load_data(load_tokenizer(str(vocab_file)), options, puzzles, 1)
    cot = [item for item in items if item.paradigm == "cot"]
    assert len(cot) == 5  # one thread a CoT run, five puzzles
    mplm_threads = sum(len(oracle_threads(load_tokenizer(str(vocab_file)), 4, "mplm", seed))
                       for seed in (1, 2))
    assert len(items) - len(cot) == mplm_threads


def test_transcripts_come_back_from_the_data_file_unchanged(vocab_file, tmp_path):
    tokenizer = load_tokenizer(str(vocab_file))
    train = list(sudoku_transcripts(tokenizer, [4], ["mplm", "fj"], range(1, 3), 512))
    path = tmp_path / "data.npz"
    save_transcripts(path, {"train": train, "heldout": train[:3]}, {"sizes": [4]})
    parts, meta = load_transcripts(path)
    assert meta == {"sizes": [4]} and len(parts["heldout"]) == 3
    assert len(parts["train"]) == len(train)
    for mine, back in zip(train, parts["train"]):
        assert (back.paradigm, back.size, back.role) == (mine.paradigm, mine.size, mine.role)
        assert back.tokens.tolist() == mine.tokens.tolist()
        assert back.mask.tolist() == mine.mask.tolist()


def test_a_data_file_made_with_other_options_is_refused(tmp_path):
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    data = tmp_path / "data.npz"
    base = ["train", "sudoku", "--sizes", "4", "--paradigms", "cot", "--steps", "2",
            "--d-model", "32", "--layers", "1", "--heads", "2", "--data", str(data),
            "--out", str(tmp_path / "m.gguf"), "--device", "cpu"]
    first = CliRunner().invoke(app, base + ["--puzzles", "4:2"])
    assert first.exit_code == 0 and data.exists()
    again = CliRunner().invoke(app, base + ["--puzzles", "4:3"])
    assert again.exit_code == 2 and "made with other training data options" in again.output


def test_init_starts_training_from_a_gguf_model_of_the_same_shape(vocab, tmp_path):
    from mplm_bench.train.warm_start import start_from

    torch.manual_seed(1)
    source = TinyLlama(ModelConfig(len(vocab), context=512, **TINY))
    path = tmp_path / "source.gguf"
    write_gguf(source, vocab, path, "source", float16=False)
    trainer = Trainer(ModelConfig(len(vocab), context=512, **TINY), TrainConfig(steps=1), [], [])
    start_from(trainer, path)
    for mine, theirs in zip(trainer.model.state_dict().values(), source.state_dict().values()):
        assert torch.equal(mine, theirs)
    other = Trainer(ModelConfig(len(vocab), context=512, d_model=32, layers=2, heads=4),
                    TrainConfig(steps=1), [], [])
    with pytest.raises(TaskInputError, match="differs from the options"):
        start_from(other, path)


def test_cut_long_keeps_the_first_max_len_tokens_of_a_long_thread(vocab_file):
    tokenizer = load_tokenizer(str(vocab_file))
    root = oracle_threads(tokenizer, 4, "fj", 1)[0]  # 159-token prompt, then a 36-token fork
    first_step_end = root.generated_spans[0][1]
    max_len = first_step_end + 5  # the fork fits; the children (202 tokens at start) do not
    assert list(sudoku_transcripts(tokenizer, [4], ["fj"], [1], max_len)) == []
    [cut] = sudoku_transcripts(tokenizer, [4], ["fj"], [1], max_len, cut_long=True)
    whole = transcript(root, "fj", 4)
    assert cut.role == "main" and cut.steps == 1
    assert cut.tokens.tolist() == whole.tokens[:max_len].tolist()
    assert cut.mask.tolist() == whole.mask[:max_len].tolist()
    assert protocol.parse_segment(tokenizer.decode(cut.tokens[cut.mask].tolist())).verb == "fork"


def test_a_grown_init_predicts_as_its_source_and_freezing_trains_only_the_new_blocks(
        vocab, vocab_file, tmp_path):
    from mplm_bench.train.warm_start import start_from

    torch.manual_seed(1)
    source = TinyLlama(ModelConfig(len(vocab), context=512, **TINY))
    path = tmp_path / "source.gguf"
    write_gguf(source, vocab, path, "source", float16=False)
    tokenizer = load_tokenizer(str(vocab_file))
    train = list(sudoku_transcripts(tokenizer, [4], ["mplm"], range(1, 2), 512))
    grown = Trainer(ModelConfig(len(vocab), context=512, d_model=64, layers=3, heads=4),
                    TrainConfig(steps=2, warmup=1, batch_tokens=2048), train, [])
    start_from(grown, path, freeze=True)
    tokens = torch.tensor([train[0].tokens[:100].tolist()])
    with torch.no_grad():
        assert torch.equal(grown.model(tokens), source(tokens))  # the new block adds zero
    before = {name: p.clone() for name, p in grown.model.state_dict().items()}
    grown.train_step()
    changed = {name for name, p in grown.model.state_dict().items() if not torch.equal(p, before[name])}
    assert changed and all(name.startswith("blocks.2.") for name in changed)
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    def train(*options: str) -> str:  # these are refused before any data is made
        result = CliRunner().invoke(app, ["train", "sudoku", "--out", str(tmp_path / "x.gguf"),
                                          *options])
        assert result.exit_code == 2
        return result.output

    assert "--freeze-init needs --init" in train("--freeze-init")
    init = ("--init", str(path), "--d-model", "64", "--heads", "4")
    assert "adds no blocks" in train(*init, "--layers", "2", "--freeze-init")
    assert "can grow from it, not shrink" in train(*init, "--layers", "1")


@pytest.mark.parametrize("mix", [(), (("mplm/candidate", 0.5),)])
def test_a_resumed_run_ends_with_the_weights_of_an_unbroken_one(vocab, vocab_file, tmp_path, mix):
    tokenizer = load_tokenizer(str(vocab_file))
    train = list(sudoku_transcripts(tokenizer, [4], ["mplm"], range(1, 2), 512))
    config = ModelConfig(len(vocab), context=512, d_model=32, layers=1, heads=2)
    schedule = TrainConfig(steps=6, warmup=2, batch_tokens=2048, eval_every=100, mix=mix)
    unbroken = Trainer(config, schedule, train, [])
    assert unbroken.run(lambda report: None)
    first = Trainer(config, schedule, train, [])
    for _ in range(3):
        first.train_step()
    first.save(tmp_path / "half.pt")
    resumed = Trainer(config, schedule, train, [])
    resumed.load(tmp_path / "half.pt")
    assert resumed.step == 3 and resumed.run(lambda report: None)
    other = Trainer(config, replace(schedule, mix=() if mix else (("mplm/candidate", 0.3),)), train, [])
    with pytest.raises(TaskInputError, match="resume with the same --mix"):
        other.load(tmp_path / "half.pt")
    for mine, theirs in zip(resumed.model.state_dict().values(), unbroken.model.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_the_roles_of_sudoku_threads_are_the_ones_mix_accepts(vocab_file):
    from mplm_bench.train.data import SUDOKU_ROLES

    tokenizer = load_tokenizer(str(vocab_file))
    roles = {thread.role for paradigm in ("mplm", "cot", "fj")
             for thread in oracle_threads(tokenizer, 4, paradigm, 1)}
    assert roles == set(SUDOKU_ROLES)


def test_mix_draws_each_group_its_share_of_the_steps(vocab, vocab_file):
    tokenizer = load_tokenizer(str(vocab_file))
    train = list(sudoku_transcripts(tokenizer, [4], ["mplm", "fj"], range(1, 3), 1024))
    roots = sum(item.paradigm == "fj" and item.role == "main" for item in train)
    assert roots == 2 and len(train) > 100  # two FJ roots among hundreds of threads
    config = ModelConfig(len(vocab), context=1024, d_model=32, layers=1, heads=2)

    def draws(mix, count):
        trainer = Trainer(config, TrainConfig(batch_tokens=2048, mix=mix), train, [])
        return [trainer._next_batch() for _ in range(count)]

    only = draws((("fj/main", 1.0),), 20)
    assert all(item.paradigm == "fj" and item.role == "main" for batch in only for item in batch)
    half = [any(item.role == "main" for item in batch) for batch in draws((("fj/main", 0.5),), 400)]
    assert 150 < sum(half) < 250  # a fair coin a step: 200 expected, 10 the standard deviation
    plain = draws((), 200)
    epoch = len(Trainer(config, TrainConfig(batch_tokens=2048), train, []).batches[0])
    first = sorted(id(item) for batch in plain[:epoch] for item in batch)
    assert first == sorted(id(item) for item in train)  # one epoch holds every transcript once
    with pytest.raises(TaskInputError, match="fj/candidate: no training transcript"):
        draws((("fj/candidate", 0.3),), 1)


def test_a_mixed_run_names_its_mix_in_the_card(tmp_path):
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    out = tmp_path / "m.gguf"
    run = CliRunner().invoke(app, ["train", "sudoku", "--sizes", "4", "--paradigms", "mplm,fj",
                                   "--puzzles", "4:2", "--steps", "2", "--d-model", "32",
                                   "--layers", "1", "--heads", "2", "--device", "cpu",
                                   "--mix", "fj/main:0.25", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "Steps drawn by `--mix`: 25% fj/main; the others" in out.with_suffix(".md").read_text()
    assert f"its card {out.with_suffix('.md')} and {out.with_suffix('.json')}" in " ".join(
        run.output.split())  # the last line names every file written
