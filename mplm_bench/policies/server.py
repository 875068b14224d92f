"""The server policy: an OpenAI-compatible server writes each thread's segments.

For every runnable thread without a segment in progress, completion requests go out
concurrently (the thread's whole context text as the prompt, the protocol's stop strings),
at most three requests a segment when greedy (protocol.stop_sequences, _write_segment); the
segment is then paced on the decode-step clock like the oracle's (a segment of k tokens
completes k steps after it starts), so the scheduler's semantics, delivery at action
boundaries and critical_path_tokens are those of the in-process policies. The server's own
counts (usage, cache reuse) are summed in ServerUsage, with the fields it did not give named.
"""
from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from mplm_bench.backends.base import BackendError, SamplingConfig, Tokenizer, cached_encoder, thread_seed
from mplm_bench.backends.openai_client import (Completion, OpenAIClient, ServerOptions,
                                               ServerTokenizer, check_model)
from mplm_bench.policies.pacing import SegmentPacer
from mplm_bench.runtime import protocol
from mplm_bench.runtime.records import Budgets, OverBudget
from mplm_bench.runtime.thread import Thread

COUNTED = ("prompt_tokens", "completion_tokens", "cached_tokens")
SOURCE = {"prompt_tokens": "usage.prompt_tokens", "completion_tokens": "usage.completion_tokens",
          "cached_tokens": "timings.cache_n/usage.prompt_tokens_details.cached_tokens"}


@dataclass
class ServerUsage:
    """What the server reported over one run (tokens, as the server counts them)."""

    requests: int = 0
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    missing: set[str] = field(default_factory=set)  # fields some reply did not give
    unknown_stops: int = 0  # replies that did not say stop string or end token

    def add(self, reply: Completion) -> None:
        self.requests += 1
        for name in COUNTED:
            value = getattr(reply, name)
            if value is None:
                self.missing.add(name)
            else:
                self.sums[name] += value
        if reply.ended_by_eos is None:
            self.unknown_stops += 1

    def to_dict(self) -> dict:
        """Row fields; a sum is None where any reply lacked its field (never a guess)."""
        sums = {name: None if name in self.missing else value for name, value in self.sums.items()}
        prompt, cached = sums["prompt_tokens"], sums["cached_tokens"]
        return {"requests": self.requests, **sums,
                "prefill_tokens": None if prompt is None or cached is None else prompt - cached,
                "missing": sorted(SOURCE[name] for name in self.missing),
                "unknown_stops": self.unknown_stops}


@dataclass(frozen=True)
class _Segment:
    text: str
    tokens: tuple[int, ...]
    complete: bool  # False: cut at the cap before an action line
    replies: list[Completion]
    sampled: int  # tokens the server sampled for it, earlier rounds included (its count)


class _SegmentWriter:
    """One segment being written by requests: its text so far, its replies, and whether
    it is finished (an action line, the end token, or past the cap)."""

    def __init__(self, policy: "ServerPolicy", thread_id: int, context: str,
                 partial: _Segment | None, cap: int):
        self.policy, self.thread_id, self.context = policy, thread_id, context
        self.text, self.tokens = (partial.text, partial.tokens) if partial else ("", ())
        self.replies: list[Completion] = []
        self.cap = len(self.tokens) + cap  # tokens of the whole segment
        self.sampled = partial.sampled if partial else 0  # tokens, the server's count
        self.complete = False

    def ask(self, stops: list[str]) -> Completion:
        room = self.cap - max(len(self.tokens), self.sampled)
        reply = self.policy.client.complete(
            self.policy._request(self.thread_id, self.context + self.text, room, stops))
        self.replies.append(reply)
        self.sampled += reply.completion_tokens or 0
        if reply.finish_reason == "length" and not reply.text:
            raise BackendError("the server wrote nothing before its length limit "
                               "(its context is full?)")
        return reply

    def done(self, reply: Completion, stop: str) -> bool:
        """Add the reply (and the stop string it ended at, which the server leaves out)."""
        ended = reply.finish_reason == "length" or bool(reply.ended_by_eos)
        self.text += reply.text if ended else reply.text + stop
        self.tokens = self.policy._encode(self.text)
        if reply.ended_by_eos or protocol.find_action_end(self.text, self.policy.tolerant) is not None:
            self.complete = True
            return True
        # the server's count too: blank lines sampled one "\n" at a time re-tokenize as
        # a single "\n\n\n" token
        return ended or max(len(self.tokens), self.sampled) >= self.cap

    def result(self) -> _Segment:
        return _Segment(self.text, self.tokens, self.complete, self.replies, self.sampled)


class ServerPolicy:
    def __init__(self, client: OpenAIClient, model: str, tokenizer: Tokenizer, pool: Executor,
                 prompts: dict[str, str], sampling: SamplingConfig, budgets: Budgets,
                 tolerant: bool = False):
        self.client, self.model, self.tokenizer, self.pool = client, model, tokenizer, pool
        self.tolerant = tolerant  # read actions loosely (find_action_end), as the scheduler does
        self.sampling = sampling
        self.budgets = budgets  # a segment past the token budget or the window ends the run
        self._written = 0  # tokens of completed segments: what is left of the budget bounds a new one
        self.usage = ServerUsage()
        self._encode = cached_encoder(tokenizer)
        self._prompts = prompts  # root threads' prompts, by name
        self._texts: dict[int, str] = {}  # thread id -> context text, its segments included
        self._partial: dict[int, _Segment] = {}  # thread id -> a segment cut at its cap
        self._pacer = SegmentPacer()

    def advance(self, runnable: list[Thread]) -> tuple[int, list[tuple[Thread, str]]]:
        new = [t for t in runnable if not self._pacer.planned(t)]
        for thread in new:  # the lines the runtime inserted since its last segment
            if thread.id not in self._partial:
                context = self._texts.get(thread.id, self._prompts.get(thread.name, ""))
                inserted = "".join(protocol.format_insert(m.sender, m.payload) for m in thread.news)
                self._texts[thread.id] = context + inserted
        cap = self._round_cap(runnable)
        futures = {thread.id: self.pool.submit(
            self._write_segment, thread.id, self._texts[thread.id],
            self._partial.get(thread.id), min(cap, self._window_room(thread)))
            for thread in new}
        wait(futures.values())
        for thread in new:  # in thread order, so usage sums and texts do not depend on timing
            segment = futures[thread.id].result()  # re-raises a request's error
            for reply in segment.replies:
                self.usage.add(reply)
            # blank lines sampled one at a time re-tokenize shorter: the runtime's count may
            # stay under the budget while the server's runs past it (a request may take one
            # token over its room)
            if segment.sampled > self.budgets.max_tokens + 1:
                raise OverBudget(f"thread {thread.name}: the server sampled {segment.sampled} "
                                 f"tokens for one segment, past the budget of "
                                 f"{self.budgets.max_tokens}")
            self._partial.pop(thread.id, None)
            if segment.complete:
                self._texts[thread.id] += segment.text
            else:  # cut at the cap: continued next round if the budget still allows
                self._partial[thread.id] = segment
            self._pacer.start(thread, segment.text, segment.tokens, segment.complete,
                              decoded=len(thread.pending))
        steps, completed = self._pacer.advance(runnable)
        self._written += sum(len(thread.pending) for thread, _ in completed)
        return steps, completed

    def _round_cap(self, runnable: list[Thread]) -> int:
        """New tokens a segment may take this round. Runnable threads decode in lockstep, so
        they share what is left of the budget: past an even share the run may end first.
        A segment cut at its share is continued in a later round (no tokens are lost)."""
        left = self.budgets.max_tokens - self._written - sum(len(t.pending) for t in runnable)
        return max(1, -(-left // max(1, len(runnable))))  # ceil; tokens

    def _window_room(self, thread: Thread) -> int:
        return max(1, self.budgets.window - len(thread.tokens) - len(thread.pending))

    def _write_segment(self, thread_id: int, context: str, partial: _Segment | None,
                       cap: int) -> _Segment:
        """Runs in a pool thread. Asks for the first line; if that is no action line, for
        the free lines up to the start of the next action line ("\n@"), then for that
        line. The prompt of the free-lines request leaves out the line end the request
        before stopped at, so the model writes it again and "\n@" can match in the text it
        writes. The action line's request gets the free lines and their line end but not
        the "@": a prompt never ends inside a token, and "@" is the start of a merged token
        ("@answer") in vocabularies like the default model's, whose bare "@" the model never
        saw before a verb. The model writes the "@" again with its verb (greedy: the same
        token); a line that re-sampled into a free line is kept, and the free lines are
        asked for again. Tolerant runs go line by line: a loose action need not start its
        line. Ends at the end token or past `cap` new tokens; `partial` is the part of the
        segment written in earlier rounds (cut at their caps)."""
        segment = _SegmentWriter(self, thread_id, context, partial, cap)
        first = segment.ask(protocol.stop_sequences())
        if segment.done(first, protocol.LINE_END):
            return segment.result()
        if self.tolerant:
            while not segment.done(segment.ask(protocol.stop_sequences()), protocol.LINE_END):
                pass
            return segment.result()
        while True:
            segment.text = segment.text[:-len(protocol.LINE_END)]
            free_lines = segment.ask(protocol.stop_sequences(after_first_line=True))
            # keep the stop's line end, not its "@" (the next request writes it, and its verb)
            if segment.done(free_lines, protocol.LINE_END):
                return segment.result()
            if segment.done(segment.ask(protocol.stop_sequences()), protocol.LINE_END):
                return segment.result()

    def _request(self, thread_id: int, prompt: str, room: int, stops: list[str]) -> dict:
        s = self.sampling
        body = {"model": self.model, "prompt": prompt, "stop": stops,
                "max_tokens": max(1, room + 1), "temperature": s.temperature,
                "seed": thread_seed(s.seed, thread_id),
                # llama.cpp servers' defaults, set to the in-process sampler's
                "top_k": s.top_k, "top_p": s.top_p, "min_p": 0.0, "repeat_penalty": 1.0}
        if s.grammar is not None:  # llama.cpp servers: the segment grammar
            body["grammar"] = s.grammar
        return body

    def cancel(self, thread: Thread) -> None:
        self._pacer.cancel(thread)

    def on_fork(self, parent: Thread, child: Thread) -> None:
        self._texts[child.id] = self._texts[parent.id]

    def on_end(self, thread: Thread) -> None:
        self._texts.pop(thread.id, None)
        self._pacer.drop(thread)


class ServerSession:
    """One command's use of a server: the checked model, the tokenizer, the request pool."""

    def __init__(self, options: ServerOptions, model: str | None):
        self.options = options
        self.client = OpenAIClient(options)
        try:
            self.model = check_model(self.client, model)
            if options.tokenizer:  # a local copy of the served model's GGUF
                from mplm_bench.backends.llamacpp_load import load_tokenizer
                from mplm_bench.models import resolve_model
                self.tokenizer_path = resolve_model(options.tokenizer)
                self.tokenizer: Tokenizer = load_tokenizer(str(self.tokenizer_path))
            else:
                self.tokenizer_path = None
                self.tokenizer = ServerTokenizer(self.client, self.model)
        except BaseException:
            self.client.close()
            raise
        self.pool = ThreadPoolExecutor(options.concurrency, thread_name_prefix="completion")

    def policy(self, prompts: dict[str, str], sampling: SamplingConfig, budgets: Budgets,
               tolerant: bool = False) -> ServerPolicy:
        return ServerPolicy(self.client, self.model, self.tokenizer, self.pool, prompts,
                            sampling, budgets, tolerant)

    def record(self) -> dict:
        """run.json's "model" for a server run: where and what, not a file digest."""
        tokenizer = (str(self.tokenizer_path) if self.tokenizer_path
                     else f"server {self.tokenizer.endpoint}")
        return {"backend": "openai", "base_url": self.client.base_url, "name": self.model,
                "tokenizer": tokenizer}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()
