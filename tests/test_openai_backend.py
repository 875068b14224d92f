"""--backend openai against a real OpenAI-compatible server (llama_cpp.server serving the
default model on 127.0.0.1, one request at a time), and its one-line errors."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mplm_bench.backends.base import BackendConfig, SamplingConfig
from mplm_bench.backends.llamacpp import LlamaCppBackend
from mplm_bench.backends.openai_client import Completion, ServerOptions
from mplm_bench.cli import app
from mplm_bench.paradigms import COT
from mplm_bench.policies.model import ModelPolicy
from mplm_bench.policies.server import ServerSession, ServerUsage
from mplm_bench.runtime.records import Budgets
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import RunStatus
from mplm_bench.tasks.sudoku import SudokuTask

from cli_checks import one_line_error

KEY_ENV, KEY = "MPLM_TEST_SERVER_KEY", "test-key-7f3a"
LAUNCHER = Path(__file__).with_name("llama_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    """llama_cpp.server on a free port with an API key, f32 KV like the exact in-process
    backend; stopped when the module's tests are done."""
    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, str(LAUNCHER), "--model", model_path, "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--type_k", "0",
               "--type_v", "0", "--flash_attn", "false", "--api_key", KEY]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # the model loads in a few seconds
            if process.poll() is not None:
                pytest.fail(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
                break
            except httpx.TransportError:
                time.sleep(0.25)
        os.environ[KEY_ENV] = KEY
        yield base_url
    finally:
        os.environ.pop(KEY_ENV, None)
        process.terminate()
        process.wait(timeout=30)


def run_cli(*args):
    return CliRunner().invoke(app, ["run", "sudoku", "--size", "4", *args])


def served(base_url, *args):
    return run_cli("--backend", "openai", "--base-url", base_url, "--api-key-env", KEY_ENV, *args)


def test_three_paradigms_through_the_server(server, model_path, tmp_path):
    # one KV cache in llama_cpp.server: interleaved threads would re-prefill every request
    result = served(server, "--max-tokens", "48", "--concurrency", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [row["paradigm"] for row in rows] == ["mplm", "cot", "fj"]
    for row in rows:
        assert row["status"] in {s.value for s in RunStatus} - {"error"}, row["detail"]
        assert row["model"] == model_path and row["generated_tokens"] > 0
        assert row["prefill_tokens"] > 0 and row["critical_path_tokens"] > 0
        usage = row["server"]  # llama_cpp.server gives usage but no cache counts
        assert usage["requests"] > 0 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        assert usage["cached_tokens"] is None and usage["prefill_tokens"] is None
        assert usage["missing"] == ["timings.cache_n/usage.prompt_tokens_details.cached_tokens"]
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["model"] == {"backend": "openai", "base_url": server, "name": model_path,
                               "tokenizer": "server /extras/tokenize"}


def cot_thread_text(make_policy, tokenizer) -> str:
    """The text a greedy CoT thread wrote on the first 4x4 puzzle within 48 tokens."""
    task = SudokuTask()
    setup = task.setup(task.instances(4, 1, 0)[0], COT)
    policy = make_policy({spec.name: spec.prompt for spec in setup.specs})
    outcome = Scheduler(setup.specs, COT.verbs, policy, Budgets(max_tokens=48)).run()
    thread = outcome.threads[0]
    return tokenizer.decode(thread.tokens[thread.prompt_tokens:])


def test_greedy_cot_text_is_the_in_process_text(server, model_path):
    config = BackendConfig(model_path, n_ctx=4096, n_seq_max=2, n_threads=2, exact=True)
    with LlamaCppBackend(config, SamplingConfig(temperature=0.0)) as backend:
        local = cot_thread_text(lambda prompts: ModelPolicy(backend), backend.tokenizer)
    options = ServerOptions("openai", server, KEY_ENV, concurrency=1, tokenizer=model_path)
    session = ServerSession(options, model_path)
    try:
        remote = cot_thread_text(lambda prompts: session.policy(
            prompts, SamplingConfig(temperature=0.0), Budgets(max_tokens=48)), session.tokenizer)
    finally:
        session.close()
    # both stop near the 48-token budget, at different points (the in-process run mid-token
    # at 49 tokens, the server at its own count): the same greedy text up to the shorter
    shorter, longer = sorted((local, remote), key=len)
    assert len(shorter) > 40 and longer.startswith(shorter), (local, remote)


def test_server_down_is_one_line(tmp_path):
    one_line_error(run_cli("--backend", "openai", "--base-url", f"http://127.0.0.1:{free_port()}",
                           "--out", str(tmp_path)), "cannot reach the server")


def test_wrong_url_is_one_line(server, tmp_path):
    one_line_error(served(f"{server}/nothing", "--out", str(tmp_path)),
                   "no OpenAI-compatible endpoint")


def test_unknown_model_is_one_line(server, tmp_path):
    one_line_error(served(server, "--model", "llama-70b", "--out", str(tmp_path)),
                   "does not serve model 'llama-70b'")


def test_refused_key_is_one_line(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLM_TEST_WRONG_KEY", "wrong")
    one_line_error(run_cli("--backend", "openai", "--base-url", server, "--api-key-env",
                           "MPLM_TEST_WRONG_KEY", "--out", str(tmp_path)), "refused the API key (401)")


def test_base_url_without_backend_openai_is_one_line(tmp_path):
    one_line_error(run_cli("--base-url", "http://127.0.0.1:1", "--out", str(tmp_path)),
                   "--base-url needs --backend openai")


def reply(text, finish="stop", eos=False, prompt=10, completion=3, cached=None):
    return Completion(text, finish, eos, prompt, completion, cached)


def test_usage_sums_and_names_what_the_server_left_out():
    usage = ServerUsage()
    usage.add(reply("a", prompt=10, completion=3, cached=4))
    usage.add(reply("b", prompt=12, completion=2, cached=10))
    assert usage.to_dict() == {"requests": 2, "prompt_tokens": 22, "completion_tokens": 5,
                               "cached_tokens": 14, "prefill_tokens": 8, "missing": [],
                               "unknown_stops": 0}
    usage.add(Completion("c", "stop", None, 5, None, 5))
    assert usage.to_dict() == {"requests": 3, "prompt_tokens": 27, "completion_tokens": None,
                               "cached_tokens": 19, "prefill_tokens": 8,
                               "missing": ["usage.completion_tokens"], "unknown_stops": 1}


class ScriptedServer:
    """A stand-in for a completions endpoint: each thread writes its script (one character
    per token) from wherever its prompt leaves off, honouring stop strings and max_tokens."""

    def __init__(self, prompts: dict[str, str], scripts: dict[str, str]):
        self.prompts, self.scripts, self.bodies = prompts, scripts, []

    def complete(self, body: dict) -> Completion:
        self.bodies.append(body)
        name = next(n for n, p in self.prompts.items() if body["prompt"].startswith(p))
        written = body["prompt"][len(self.prompts[name]):]
        rest = self.scripts[name][len(written):]
        cut = min([rest.find(stop) for stop in body["stop"] if stop in rest] or [len(rest)])
        if cut > body["max_tokens"]:
            return Completion(rest[:body["max_tokens"]], "length", False, len(body["prompt"]),
                              body["max_tokens"], None)
        return Completion(rest[:cut], "stop", cut == len(rest), len(body["prompt"]), cut, None)


def scripted_server_run(scripts: dict[str, str], max_tokens: int):
    from concurrent.futures import ThreadPoolExecutor

    from mplm_bench.paradigms import MPLM
    from mplm_bench.policies.scripted import CharTokenizer
    from mplm_bench.policies.server import ServerPolicy
    from mplm_bench.runtime.thread import ThreadSpec

    prompts = {name: f"P{name}\n" for name in scripts}
    server = ScriptedServer(prompts, scripts)
    with ThreadPoolExecutor(1) as pool:
        policy = ServerPolicy(server, "m", CharTokenizer(), pool, prompts, SamplingConfig(),
                              Budgets(max_tokens=max_tokens))
        specs = [ThreadSpec(name, "t", prompt) for name, prompt in prompts.items()]
        outcome = Scheduler(specs, MPLM.verbs, policy, Budgets(max_tokens=max_tokens)).run()
    return outcome, server.bodies


def test_a_segment_takes_at_most_three_requests():
    script = "think\nmore\n@answer 4\n"
    outcome, bodies = scripted_server_run({"a": script, "b": "@answer 5\n"}, 1000)
    assert outcome.status is None and outcome.answers == {"a": "4", "b": "5"}
    a = outcome.threads[0]
    assert char_text(a.tokens[a.prompt_tokens:]) == script
    # a: its first line; the free lines up to "\n@", asked without the first line's end so
    # the stop can match; the action line, "@" included. b: its first line is its action.
    # One pool worker: a's requests, then b's
    assert [b["prompt"] for b in bodies] == ["Pa\n", "Pa\nthink", "Pa\nthink\nmore\n", "Pb\n"]
    assert [b["stop"] for b in bodies] == [["\n"], ["\n@"], ["\n"], ["\n"]]


class MergedVerbServer(ScriptedServer):
    """A scripted server whose tokenizer, like the default model's, holds "@answer" as one
    token: a prompt ending in a bare "@" ends inside that token, a sequence its model never
    saw, and it writes what the model did there (a space, then the line end)."""

    def complete(self, body: dict) -> Completion:
        if body["prompt"].endswith("@"):
            self.bodies.append(body)
            return Completion(" ", "stop", False, len(body["prompt"]), 2, None)
        return super().complete(body)


def test_no_prompt_ends_inside_a_merged_verb_token():
    from concurrent.futures import ThreadPoolExecutor

    from mplm_bench.paradigms import MPLM
    from mplm_bench.policies.scripted import CharTokenizer
    from mplm_bench.policies.server import ServerPolicy
    from mplm_bench.runtime.thread import ThreadSpec

    script = "r1c3=3\nr1c3=3\n@answer 3\n"  # free lines, then the action line
    prompts = {"main": "Pmain\n"}
    server = MergedVerbServer(prompts, {"main": script})
    with ThreadPoolExecutor(1) as pool:
        policy = ServerPolicy(server, "m", CharTokenizer(), pool, prompts, SamplingConfig(),
                              Budgets(max_tokens=100))  # strict: tolerant=False
        outcome = Scheduler([ThreadSpec("main", "t", prompts["main"])], MPLM.verbs, policy,
                            Budgets(max_tokens=100)).run()
    # a prompt ending in "\n@" got "@ \n": "unknown action @", a protocol error
    assert outcome.status is None and outcome.answers == {"main": "3"}
    main = outcome.threads[0]
    assert char_text(main.tokens[main.prompt_tokens:]) == script
    assert not any(b["prompt"].endswith("@") for b in server.bodies)
    assert len(server.bodies) == 3


def char_text(tokens) -> str:
    return "".join(chr(t) for t in tokens)


def test_lockstep_threads_share_the_budget_and_cut_segments_continue():
    long = "abcdefghijkl\n@answer 1\n"  # 23 tokens
    outcome, bodies = scripted_server_run({"a": long, "b": long}, 30)
    # 30 tokens left for 2 lockstep threads: 15 each. Each writes its first line (13 with
    # its end), "\n@" (14), then "an" of its action line: a request may take one token past
    # its room, so the cut shows. Both cut segments come due at step 16: 32 > 30 ends the
    # run before any segment completed
    assert outcome.status is RunStatus.BUDGET_EXHAUSTED
    assert [t.generated_tokens for t in outcome.threads] == [16, 16]
    assert outcome.accounting.generated_tokens == 32 and outcome.ticks == 16
    assert all(b["max_tokens"] <= 16 for b in bodies)


def test_a_segment_cut_at_its_share_is_continued_to_the_same_text():
    long = "abcdefghijkl\n@answer 1\n"  # 23 tokens
    scripts = {"a": long, "b": long, "c": "@answer 3\n"}
    outcome, bodies = scripted_server_run(scripts, 60)
    # 60 tokens for 3 threads: 20 each; c answers at step 10, a and b are cut near 20 and
    # continued in a later round with what is left (60 - 10 - 42 = 8, 4 each)
    assert outcome.status is None and outcome.answers == {"a": "1", "b": "1", "c": "3"}
    assert [char_text(t.tokens[t.prompt_tokens:]) for t in outcome.threads] == list(scripts.values())
    assert outcome.accounting.generated_tokens == 56
    continued = [b for b in bodies if b["prompt"].startswith("Pa\n")]
    assert len(continued) == 4 and continued[-1]["max_tokens"] == 5


def test_longqa_through_a_server_needs_a_local_tokenizer(tmp_path):
    result = CliRunner().invoke(app, ["run", "longqa", "--length", "1000", "--backend", "openai",
                                      "--base-url", "http://127.0.0.1:1", "--out", str(tmp_path)])
    one_line_error(result, "needs --tokenizer")
