"""Long-context QA: generator, JSONL loader, scoring, prompts, and oracle runs of the three
paradigms with the real model's tokenizer."""
import json

import pytest
from typer.testing import CliRunner

from mplm_bench.cli import app
from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, PARADIGMS
from mplm_bench.policies.oracle import OraclePolicy
from mplm_bench.policies.scripted import CharTokenizer
from mplm_bench.runner import schedule
from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.longqa import ANSWER_ROOM, LongQATask
from mplm_bench.tasks.longqa_files import read_records, to_instance
from mplm_bench.tasks.longqa_generate import KINDS, generate
from mplm_bench.tasks.longqa_prompts import ChatFormat
from mplm_bench.tasks.longqa_score import best_scores, normalize

from cli_checks import one_line_error


def count(tokenizer):
    return lambda text: len(tokenizer.encode(text))


def run(task, instance, paradigm, tokenizer):
    setup = task.setup(instance, paradigm)
    outcome = schedule(setup, paradigm, OraclePolicy(tokenizer, setup.programs())).run()
    answer = setup.answer_from(outcome.answers)
    return outcome, answer, setup


# ---- generator ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_generator_is_deterministic_and_seeded(kind, tokenizer):
    make = lambda seed: generate(kind, 1500, 3, 2, seed, count(tokenizer))
    assert make(4) == make(4)
    assert make(4).chunks != make(5).chunks


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("length", [1000, 4000])
def test_length_is_within_two_percent_in_model_tokens(kind, length, tokenizer):
    instance = generate(kind, length, 4, 3, 0, count(tokenizer))
    assert abs(len(tokenizer.encode(instance.context)) - length) <= 0.02 * length
    assert instance.size == length and len(instance.chunks) == 4


@pytest.mark.parametrize("kind, hops", [("needle", 1), ("vartrack", 3), ("multihop", 4)])
def test_each_fact_sits_once_in_its_own_chunk_and_the_last_gives_the_answer(kind, hops, tokenizer):
    instance = generate(kind, 3000, 4, hops, 1, count(tokenizer))
    assert len(instance.facts) == hops
    homes = [[k for k, chunk in enumerate(instance.chunks) if fact.sentence in chunk]
             for fact in instance.facts]
    assert all(len(home) == 1 for home in homes) and len({h[0] for h in homes}) == hops
    assert instance.context.count(instance.facts[-1].sentence) == 1
    assert instance.answers[0] in instance.facts[-1].sentence
    for fact, following in zip(instance.facts, instance.facts[1:]):  # a chain, link by link
        assert fact.leads_to == following.about


def test_generator_rejects_more_hops_than_chunks(tokenizer):
    with pytest.raises(TaskInputError, match="hops"):
        generate("vartrack", 2000, 2, 3, 0, count(tokenizer))


# ---- JSONL files --------------------------------------------------------------------------
GOOD = {"context": "Alpha is here. Paris is the capital of France. Omega ends it.",
        "input": "What is the capital of France?", "answers": ["Paris"]}


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_loader_reads_the_longbench_layout(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "qa.jsonl", [GOOD, "", {**GOOD, "question": "Q?", "input": None,
                                                         "_id": "x7", "supporting_facts": ["Omega ends it."]}])
    first, second = read_records(path)
    assert (first.id, first.question, first.answers) == ("qa.jsonl:1", GOOD["input"], ("Paris",))
    assert (second.id, second.question, second.supporting_facts) == ("x7", "Q?", ("Omega ends it.",))
    instance = to_instance(first, 2, count(tokenizer))
    assert instance.context == GOOD["context"] and len(instance.chunks) == 2
    assert [f.sentence for f in instance.facts] == ["Paris is the capital of France."]


@pytest.mark.parametrize("bad, reason", [
    ('{"context": "x", "input": ', "qa.jsonl:2: bad JSON"),
    ({"context": "x", "input": "q"}, "qa.jsonl:2: missing field 'answers'"),
    ({"context": "x", "answers": ["a"]}, "qa.jsonl:2: missing field 'input' or 'question'"),
    ({"input": "q", "answers": ["a"]}, "qa.jsonl:2: missing field 'context'"),
])
def test_loader_names_the_bad_line(tmp_path, bad, reason):
    path = write_jsonl(tmp_path / "qa.jsonl", [GOOD, bad, GOOD])
    with pytest.raises(TaskInputError, match=reason):
        read_records(path)


def test_cli_bad_jsonl_is_one_line_exit_2(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [GOOD, GOOD, '{"context": '])
    one_line_error(CliRunner().invoke(app, ["run", "longqa", "--policy", "oracle", "--out",
                                            str(tmp_path / "out"), "--instances-file", str(path)]),
                   "qa.jsonl:3: bad JSON")


# ---- scoring ----------------------------------------------------------------------------
def test_squad_normalization_and_scores():
    assert normalize("  The Quick, brown fox!  ") == "quick brown fox"
    assert best_scores("the Paris.", ["paris"]) == {"em": 1.0, "f1": 1.0}
    assert best_scores("Paris France", ["Paris"]) == {"em": 0.0, "f1": 0.6667}  # P 1/2, R 1
    assert best_scores("Lyon", ["Paris", "lyon"]) == {"em": 1.0, "f1": 1.0}
    assert best_scores("an", ["Paris"]) == {"em": 0.0, "f1": 0.0}
    assert best_scores(None, ["Paris"]) == {"em": 0.0, "f1": 0.0}


# ---- prompts ------------------------------------------------------------------------------
def test_prompts_use_the_gguf_chat_template(tokenizer):
    chat = ChatFormat.of(tokenizer)
    text = chat.render("SYS", "USER")
    assert chat.source == "gguf"
    assert text == "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nUSER<|im_end|>\n<|im_start|>assistant\n"
    start = tokenizer.encode("<|im_start|>", special=True)
    assert len(start) == 1 and tokenizer.encode(text, special=True)[0] == start[0]


def test_plain_format_without_a_template():
    chat = ChatFormat.of(CharTokenizer())
    assert chat.source == "plain" and chat.render("SYS", "USER") == "SYS\n\nUSER\n\n"


# ---- the three paradigms with the oracle -----------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_paradigm_answers_and_mplm_fj_contexts_stay_below_cot(kind, tokenizer):
    task = LongQATask(tokenizer, 1_000_000, kind, hops=3)
    instance = task.instances(4000, 1, seed=2)[0]
    peaks, outcomes = {}, {}
    for paradigm in PARADIGMS.values():
        outcome, answer, setup = run(task, instance, paradigm, tokenizer)
        assert outcome.status is None and answer == instance.answers[0], (paradigm.name, outcome.detail)
        assert setup.task_metrics(outcome, answer) == {"em": 1.0, "f1": 1.0, "truncated_tokens": 0}
        acc = outcome.accounting
        assert sum(len(t.tokens) for t in outcome.threads) == (
            acc.prefill_tokens + acc.kv_copied_tokens + acc.generated_tokens)
        peaks[paradigm.name], outcomes[paradigm.name] = acc.peak_thread_context, outcome
    assert peaks["mplm"] * 2 < peaks["cot"] and peaks["fj"] * 2 < peaks["cot"]
    fj = outcomes["fj"]
    assert len(fj.threads) == 5 and all(t.end == "return" for t in fj.threads[1:])
    mplm = outcomes["mplm"]
    # a chain of 3 facts in 3 chunks: the first reader asks twice (3 peers each), two
    # readers reply, the chain goes to the coordinator; the rest stop when it answers
    expected = 1 if kind == "needle" else 2 * 3 + 2 + 1
    assert mplm.accounting.messages == expected


def test_cot_document_is_cut_to_the_window_and_the_cut_recorded(tokenizer):
    window = 2500
    task = LongQATask(tokenizer, window, "needle")
    instance = task.instances(4000, 1, seed=0)[0]
    setup = task.setup(instance, COT)
    prompt = len(tokenizer.encode(setup.specs[0].prompt, special=True))
    outcome, answer, _ = run(task, instance, COT, tokenizer)
    truncated = setup.task_metrics(outcome, answer)["truncated_tokens"]
    assert prompt + 1 + ANSWER_ROOM <= window + 3  # +3: the " ... " joint re-tokenizes
    assert truncated > 1500 and prompt + truncated > len(tokenizer.encode(instance.context))


def test_fork_tasks_expand_to_one_chunk_each(tokenizer):
    task = LongQATask(tokenizer, 1_000_000, "multihop")
    instance = task.instances(3000, 1, seed=0)[0]
    setup = task.setup(instance, FORK_JOIN)
    assert instance.chunks[0] not in setup.specs[0].prompt
    text = setup.expand_task("chunk 2")
    assert instance.chunks[1] in text and instance.chunks[0] not in text
    assert instance.question in text
    assert "no such chunk" in setup.expand_task("chunk 9")


def test_mplm_threads_hold_one_chunk_and_the_coordinator_none(tokenizer):
    task = LongQATask(tokenizer, 1_000_000, "vartrack", hops=2)
    instance = task.instances(3000, 1, seed=0)[0]
    specs = {s.name: s.prompt for s in task.setup(instance, MPLM).specs}
    assert set(specs) == {"coordinator", "chunk1", "chunk2", "chunk3"}
    assert not any(chunk in specs["coordinator"] for chunk in instance.chunks)
    for k, chunk in enumerate(instance.chunks, 1):
        assert [c in specs[f"chunk{k}"] for c in instance.chunks].count(True) == 1


def test_cli_oracle_run_shows_em_and_f1(tmp_path):
    result = CliRunner().invoke(app, ["run", "longqa", "--length", "1500", "--hops", "2",
                                      "--policy", "oracle", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["paradigm"], r["status"], r["em"], r["f1"]) for r in rows] == [
        (p, "solved", 1.0, 1.0) for p in ("mplm", "cot", "fj")]
    assert all(r["size"] == 1500 and r["protocol_repairs"] == 0 for r in rows)
    assert "em" in result.output and "f1" in result.output
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["config"]["tolerant"] is True
    assert record["config"]["task_options"]["chat_format"] == "gguf"
