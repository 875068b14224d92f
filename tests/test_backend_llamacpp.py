"""LlamaCppBackend on the real small model (SmolLM2-135M); exact mode for equality tests."""
from __future__ import annotations

import pytest

from mplm_bench.backends.base import BackendConfig, BackendError, SamplingConfig
from mplm_bench.backends.llamacpp import LlamaCppBackend
from mplm_bench.backends.llamacpp_load import load_tokenizer

GREEDY = SamplingConfig()
TEXTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village by the sea, there lived",
]


@pytest.fixture(scope="module")
def tok(model_path):
    return load_tokenizer(model_path)


@pytest.fixture(scope="module")
def prompts(tok) -> list[list[int]]:
    head = [tok.bos] if tok.bos is not None else []
    return [head + tok.encode(text) for text in TEXTS]


def exact(model_path: str, **kw) -> BackendConfig:
    kw = {"n_ctx": 4096, "n_seq_max": 8, "n_threads": 2, **kw}
    return BackendConfig(model_path=model_path, exact=True, **kw)


@pytest.fixture(scope="module")
def backend(model_path):
    with LlamaCppBackend(exact(model_path), GREEDY) as b:
        yield b


def generate(b, feeds: dict[int, list[int]], n: int) -> dict[int, list[int]]:
    """Feed the prompts, then each sampled token back, n steps in all (batched)."""
    out: dict[int, list[int]] = {t: [] for t in feeds}
    for _ in range(n):
        got = b.step(feeds)
        for t, token in got.items():
            out[t].append(token)
        feeds = {t: [token] for t, token in got.items()}
    return out


def test_batched_equals_alone(backend, prompts):
    together = generate(backend, dict(enumerate(prompts)), 12)
    for t in range(len(prompts)):
        backend.release(t)
    for i, p in enumerate(prompts):
        alone = generate(backend, {100 + i: p}, 12)[100 + i]
        backend.release(100 + i)
        assert alone == together[i], f"prompt {i}"
    assert len(set(map(tuple, together.values()))) == len(prompts)  # really different


def test_chunked_prefill_matches(model_path, prompts, backend):
    """n_batch=16 splits every prompt (and threads) across llama_decode calls."""
    want = generate(backend, {200 + i: p for i, p in enumerate(prompts)}, 6)
    for t in want:
        backend.release(t)
    with LlamaCppBackend(exact(model_path, n_batch=16), GREEDY) as small:
        got = generate(small, {200 + i: p for i, p in enumerate(prompts)}, 6)
        assert small.stats()["decode_calls"] > 6
    assert got == want


def test_fork_matches_reprefill(backend, prompts):
    p = prompts[2]
    head = generate(backend, {1: p}, 4)[1]
    before = backend.stats()["tokens_decoded"]
    backend.fork(1, 2)
    assert backend.stats()["tokens_decoded"] == before  # no prefill
    forked = generate(backend, {2: [head[-1]]}, 8)[2]
    parent = generate(backend, {1: [head[-1]]}, 8)[1]
    fresh = generate(backend, {3: p + head}, 8)[3]
    for t in (1, 2, 3):
        backend.release(t)
    assert forked == fresh == parent


def test_parking_matches_unparked(model_path, prompts):
    schedule = [(0, 1), (2, 0), (1, 2)] * 4  # 3 threads, 2 fed per step

    def run(n_seq_max: int):
        with LlamaCppBackend(exact(model_path, n_seq_max=n_seq_max), GREEDY) as b:
            nxt = dict(enumerate(prompts))  # what each thread is fed next
            outs: dict[int, list[int]] = {t: [] for t in nxt}
            for pair in schedule:
                got = b.step({t: nxt[t] for t in pair})
                for t, token in got.items():
                    outs[t].append(token)
                    nxt[t] = [token]
            return outs, b.stats()

    parked_out, st = run(2)
    plain_out, plain_st = run(8)
    assert st["parked"] > 0 and st["restored"] > 0 and plain_st["parked"] == 0
    assert parked_out == plain_out


def test_new_threads_fork_a_shared_prompt_prefix(model_path, prompts, tok):
    """Three prompts that begin with the same 45 tokens: the second makes them a prefix
    sequence, and the second and third fork it. That is what a caller gets by decoding the
    prefix alone and forking it by hand (the same llama_decode calls, so the same tokens:
    a different batch layout may move Q4 logits by ~0.5), and the prefix is decoded once
    instead of three times."""
    head = prompts[2] * 3
    tails = [tok.encode(text) for text in TEXTS]
    with LlamaCppBackend(exact(model_path), GREEDY) as shared:
        got = generate(shared, {i: head + tail for i, tail in enumerate(tails)}, 8)
        stats = shared.stats()
    with LlamaCppBackend(exact(model_path, share_prefixes=False), GREEDY) as by_hand:
        by_hand.step({9: head})
        by_hand.fork(9, 1)
        by_hand.fork(9, 2)
        want = generate(by_hand, {0: head + tails[0], 1: tails[1], 2: tails[2]}, 8)
        plain = by_hand.stats()
    assert len(head) == 45 and got == want
    assert stats["prefix_tokens_shared"] == 2 * len(head) and plain["prefix_tokens_shared"] == 0
    assert stats["tokens_decoded"] == plain["tokens_decoded"]
    assert stats["tokens_decoded"] == sum(map(len, tails)) + 2 * len(head) + 3 * 7


def test_kv_full_parks_then_errors(model_path, prompts):
    # 256 cells: two ~100-token threads fit, a third forces parking by KV size
    cfg = exact(model_path, n_ctx=256, n_seq_max=4, n_batch=256, share_prefixes=False)
    with LlamaCppBackend(cfg, GREEDY) as b:
        long = prompts[2] * 8  # ~100 tokens each: the third does not fit beside two
        for t in range(3):
            b.step({t: long})
        assert b.stats()["parked"] >= 1
        with pytest.raises(BackendError, match="KV cache too small"):
            b.step({9: prompts[2] * 20})


def test_more_threads_than_slots_take_turns_within_a_step(model_path, prompts, backend):
    # 3 threads on 2 slots: each step decodes two groups, parking one thread between
    want = generate(backend, {200 + t: p for t, p in enumerate(prompts)}, 10)
    with LlamaCppBackend(exact(model_path, n_seq_max=2), GREEDY) as b:
        got = generate(b, dict(enumerate(prompts)), 10)
        assert b.stats()["parked"] >= 9
    assert [got[t] for t in range(3)] == [want[200 + t] for t in range(3)]
    for t in range(3):
        backend.release(200 + t)


def sample_run(model_path, prompt, seed: int) -> list[int]:
    sampling = SamplingConfig(temperature=1.5, seed=seed)
    with LlamaCppBackend(exact(model_path, n_seq_max=2), sampling) as b:
        return generate(b, {7: prompt}, 20)[7]


def test_seeded_sampling(model_path, prompts):
    a = sample_run(model_path, prompts[2], seed=1)
    assert a == sample_run(model_path, prompts[2], seed=1)
    assert a != sample_run(model_path, prompts[2], seed=2)


def test_grammar_constrains_output(model_path, prompts, tok):
    grammar = 'root ::= "@" ("yes" | "no") "\\n"'
    sampling = SamplingConfig(temperature=1.0, seed=3, grammar=grammar)
    with LlamaCppBackend(exact(model_path, n_seq_max=2), sampling) as b:
        for thread, p in enumerate(prompts):
            out, feed = [], p
            for _ in range(10):
                token = b.step({thread: feed})[thread]
                if token == tok.eos:
                    break
                out.append(token)
                feed = [token]
            assert tok.decode(out) in ("@yes\n", "@no\n")
            b.reset_sampler(thread)


def test_invalid_grammar_is_backend_error(model_path, prompts):
    with LlamaCppBackend(exact(model_path, n_seq_max=2), SamplingConfig(grammar="root ::= (")) as b:
        with pytest.raises(BackendError, match="grammar"):
            b.step({0: prompts[0]})


def test_tokenizer_round_trip(tok):
    text = "Hello, world! 123 tokens: a+b=c\n\tend."
    ids = tok.encode(text)
    assert ids and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text
    assert tok.encode("") == [] and tok.decode([]) == ""
    assert tok.bos is None or isinstance(tok.bos, int)
    assert isinstance(tok.eos, int) and tok.eos >= 0


def test_bad_model_files(tmp_path):
    text_file = tmp_path / "model.gguf"
    text_file.write_text("this is not a model\n")
    missing = tmp_path / "nope.gguf"
    for path, words in ((text_file, "not a GGUF"), (missing, "not found")):
        for load in (load_tokenizer, lambda p: LlamaCppBackend(BackendConfig(str(p)), GREEDY)):
            with pytest.raises(BackendError, match=words) as info:
                load(str(path))
            assert "\n" not in str(info.value)


def test_greedy_fast_path_matches_sampler_chain(backend, prompts):
    """Plain greedy takes a numpy argmax; it must pick what llama.cpp's greedy sampler picks."""
    fast = generate(backend, {300: prompts[1]}, 10)[300]
    backend.release(300)
    backend._plain_greedy = False
    try:
        chain = generate(backend, {301: prompts[1]}, 10)[301]
    finally:
        backend._plain_greedy = True
        backend.release(301)
    assert fast == chain


def test_split_kv_streams_decode_fork_and_park_like_the_unified_cache(model_path, prompts, backend):
    """kv_unified=False: a KV stream per slot; forks copy across streams, parking still works."""
    want = generate(backend, dict(enumerate(prompts)), 8)
    for t in want:
        backend.release(t)
    with LlamaCppBackend(exact(model_path, n_seq_max=2, kv_unified=False), GREEDY) as split:
        got = {}
        for t, p in enumerate(prompts):  # 3 threads on 2 slots: one is parked and restored
            got[t] = generate(split, {t: p}, 4)[t]
        for t, p in enumerate(prompts):
            got[t] += generate(split, {t: [got[t][-1]]}, 4)[t]
        assert split.stats()["parked"] > 0 and got == want
        split.fork(2, 9)
        assert generate(split, {9: [got[2][-1]]}, 4)[9] == generate(split, {2: [got[2][-1]]}, 4)[2]


def test_split_kv_streams_take_feeds_in_any_order(model_path, prompts, backend):
    """A split step is decoded in slot order; the caller's feed order changes nothing."""
    want = generate(backend, dict(enumerate(prompts)), 6)
    for t in want:
        backend.release(t)
    with LlamaCppBackend(exact(model_path, n_seq_max=3, kv_unified=False), GREEDY) as split:
        for t, p in enumerate(prompts):  # threads 0, 1, 2 take slots 0, 1, 2
            split.step({t: p[:1]})
        feeds = {t: prompts[t][1:] for t in reversed(range(len(prompts)))}
        got = generate(split, feeds, 6)
    assert got == want
