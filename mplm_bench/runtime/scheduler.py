"""The event loop: advance runnable threads together, apply their actions, deliver messages.

Time is counted in decode steps ("ticks"): every runnable thread advances one token per
step, so the final tick is the critical path. A policy reports how many steps passed and
which segments completed; the oracle jumps the clock to the next completion, a model
policy decodes one step at a time.
"""
from __future__ import annotations

import gc
import time
from typing import Callable, Sequence

from mplm_bench.backends.base import BackendUnavailable, cached_encoder
from mplm_bench.runtime import protocol
from mplm_bench.runtime.protocol import Action, ProtocolError
from mplm_bench.runtime.records import (Accounting, Budgets, OverBudget, Policy, RunOutcome,
                                        SegmentHook)
from mplm_bench.runtime.thread import Message, RunStatus, Thread, ThreadSpec, ThreadState
from mplm_bench.runtime.trace import Trace


def _add_span(thread: Thread) -> None:
    """Record where the segment in thread.pending lands in its context."""
    start = len(thread.tokens)
    thread.generated_spans.append((start, start + len(thread.pending)))


class _Stop(Exception):
    def __init__(self, status: RunStatus, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class Scheduler:
    def __init__(
        self,
        specs: Sequence[ThreadSpec],
        verbs: frozenset[str],
        policy: Policy,
        budgets: Budgets = Budgets(),
        answer_complete: Callable[[dict[str, str]], bool] = lambda answers: False,
        on_step: Callable[[int], None] | None = None,
        trace: Trace | None = None,
        on_segment: SegmentHook | None = None,
        tolerant: bool = False,
        expand_task: Callable[[str], str] | None = None,
    ):
        self.verbs = verbs
        self.policy = policy
        self.budgets = budgets
        self.answer_complete = answer_complete  # lets a run stop once its answer is out
        self.on_step = on_step  # progress hook: called with the tokens generated this step
        self.trace = trace
        self.on_segment = on_segment
        self.tolerant = tolerant  # read actions as protocol.parse_segment_tolerant does
        self.expand_task = expand_task  # fork task -> the text inserted into the child
        self.acc = Accounting()
        self.tick = 0
        self.threads: list[Thread] = []
        self.by_name: dict[str, Thread] = {}
        self.groups: dict[str, list[Thread]] = {}  # group name -> members, in creation order
        self.answers: dict[str, str] = {}
        self.runnable: dict[int, Thread] = {}  # by id, in creation order within a step
        self.live_kv = 0  # tokens in live threads' committed contexts (pending excluded)
        self._encode = cached_encoder(policy.tokenizer)
        self._touched: dict[int, Thread] = {}  # contexts that grew since the last measure
        names = {spec.name for spec in specs}
        shadowed = sorted({group for spec in specs for group in spec.groups} & names)
        if shadowed:  # a send to the name would reach the thread, never the group
            raise ValueError(f"group names that are also thread names: {', '.join(shadowed)}")
        # a start that breaks a budget (more roots than max_threads) ends the run with that
        # status in run(), like any later stop: the roots made by then are its threads
        self._start_stop: _Stop | None = None
        try:
            for spec in specs:
                self._start_root(spec)
        except _Stop as stop:
            self._start_stop = stop

    # ---- building contexts -------------------------------------------------------------
    def _start_root(self, spec: ThreadSpec) -> Thread:
        thread = self._new_thread(spec.name, spec.role, parent=None)
        thread.recv_one = spec.recv_one
        bos = self.policy.tokenizer.bos
        text = (self.policy.tokenizer.encode(spec.prompt, special=True) if spec.special_tokens
                else self._encode(spec.prompt))
        prompt = ([bos] if bos is not None else []) + list(text)
        thread.tokens.extend(prompt)
        thread.prompt_tokens = len(prompt)
        self.acc.prefill_tokens += len(prompt)
        self.live_kv += len(prompt)
        self._touched[thread.id] = thread
        for group in spec.groups:
            self.groups.setdefault(group, []).append(thread)
        self._record(thread, "spawn", role=spec.role, parent=None, tokens=len(prompt))
        return thread

    def _record(self, thread: Thread, event: str, **data) -> None:
        if self.trace is not None:
            self.trace.add(self.tick, thread.name, event, **data)

    def _new_thread(self, name: str, role: str, parent: int | None) -> Thread:
        if len(self.threads) >= self.budgets.max_threads:
            raise _Stop(RunStatus.BUDGET_EXHAUSTED, f"more than {self.budgets.max_threads} threads")
        if name in self.by_name:
            raise _Stop(RunStatus.PROTOCOL_ERROR, f"two threads named {name!r}")
        thread = Thread(id=len(self.threads), name=name, role=role, parent=parent, started_at=self.tick)
        self.threads.append(thread)
        self.by_name[name] = thread
        self.runnable[thread.id] = thread
        return thread

    def _set_state(self, thread: Thread, state: ThreadState) -> None:
        if state is ThreadState.RUNNABLE:
            self.runnable[thread.id] = thread
        else:
            self.runnable.pop(thread.id, None)
        thread.state = state

    def _insert(self, thread: Thread, sender: str, payload: str) -> int:
        tokens = self._encode(protocol.format_insert(sender, payload))
        thread.tokens.extend(tokens)
        thread.inserted_tokens += len(tokens)
        self.acc.prefill_tokens += len(tokens)
        self.live_kv += len(tokens)
        self._touched[thread.id] = thread
        thread.news.append(Message(sender, payload, self.tick))
        return len(tokens)

    def _deliver_mailbox(self, thread: Thread) -> None:
        if thread.recv_one:  # one message, when asked (ThreadSpec.recv_one)
            if not thread.asked:
                return
            thread.asked = False
        while thread.mailbox:
            message = thread.mailbox.popleft()
            tokens = self._insert(thread, message.sender, message.payload)
            self.acc.messages += 1
            self.acc.message_tokens += tokens
            self._record(thread, "deliver", payload=message.payload, sent_at=message.sent_at,
                         tokens=tokens, **{"from": message.sender})
            if thread.recv_one:
                return

    # ---- the loop -------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        start = time.monotonic()
        status, detail = None, ""
        # contexts are long lists of ints: the cyclic GC would walk all of them on every
        # collection (over a second in a 25x25 fork-join run) and the runtime makes no cycles
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if self._start_stop is not None:
                raise self._start_stop
            self._loop(start)
        except _Stop as stop:
            status, detail = stop.status, stop.detail
        except OverBudget as error:
            status, detail = RunStatus.BUDGET_EXHAUSTED, str(error)
        except BackendUnavailable:  # no run can go on: the command stops
            raise
        except Exception as error:  # a backend failure is a status, never a crash
            status, detail = RunStatus.ERROR, f"{type(error).__name__}: {error}"
        finally:
            if gc_was_enabled:
                gc.enable()
        if status is None:
            status, detail = self._quiescent_status()
        self._finish_all()
        return RunOutcome(status, detail, dict(self.answers), self.threads, self.acc,
                          self.tick, time.monotonic() - start)

    def _loop(self, start: float) -> None:
        while not self.answer_complete(self.answers):
            runnable = sorted(self.runnable.values(), key=lambda t: t.id)
            if not runnable:
                return
            for thread in runnable:
                if thread.at_boundary and thread.mailbox:
                    self._deliver_mailbox(thread)
            self.acc.max_concurrent = max(self.acc.max_concurrent, len(runnable))
            generated_before = self._generated_now()
            steps, completed = self.policy.advance(runnable)
            self.tick += steps
            self._measure()
            for thread, text in sorted(completed, key=lambda pair: pair[0].id):
                self._complete_segment(thread, text)
            if self.on_step is not None:
                self.on_step(self._generated_now() - generated_before)
            self._check_budgets(start)

    def _generated_now(self) -> int:
        # only runnable threads can hold a segment in progress
        return self.acc.generated_tokens + sum(len(t.pending) for t in self.runnable.values())

    def _measure(self) -> None:
        # a context grows by inserts and completed segments (touched), or by a segment in
        # progress (pending, model policy only); checking just those keeps a step O(changed)
        growing = [t for t in self.runnable.values() if t.pending]
        candidates = growing + [t for t in self._touched.values() if t.live]
        self._touched = {}
        longest = max(candidates, key=lambda t: t.context_len, default=None)
        if longest is not None:
            if longest.context_len > self.budgets.window:
                raise _Stop(RunStatus.CONTEXT_OVERFLOW,
                            f"thread {longest.name} reached {longest.context_len} tokens "
                            f"(window {self.budgets.window})")
            self.acc.peak_thread_context = max(self.acc.peak_thread_context, longest.context_len)
        pending = sum(len(t.pending) for t in growing)
        self.acc.peak_live_kv = max(self.acc.peak_live_kv, self.live_kv + pending)

    def _check_budgets(self, start: float) -> None:
        self._measure()
        if self._generated_now() > self.budgets.max_tokens:
            raise _Stop(RunStatus.BUDGET_EXHAUSTED,
                        f"generated more than {self.budgets.max_tokens} tokens")
        if self.budgets.max_live_kv and self.acc.peak_live_kv > self.budgets.max_live_kv:
            raise _Stop(RunStatus.BUDGET_EXHAUSTED,
                        f"live threads held more than {self.budgets.max_live_kv} KV tokens")
        if time.monotonic() - start > self.budgets.wall_s:
            raise _Stop(RunStatus.TIMEOUT, f"ran longer than {self.budgets.wall_s:g} s")

    def _quiescent_status(self) -> tuple[RunStatus | None, str]:
        if self.answer_complete(self.answers):
            return None, ""
        blocked = [t.name for t in self.threads if t.state in (ThreadState.RECV, ThreadState.JOIN)]
        if blocked:
            return RunStatus.DEADLOCK, f"{len(blocked)} threads blocked, none runnable (e.g. {blocked[0]})"
        return None, "every thread finished"

    def _finish_all(self) -> None:
        """End the run: segments in progress stay in their contexts (they are in the KV)."""
        for thread in self.threads:
            if thread.live:
                self.policy.cancel(thread)
            if thread.pending:
                if self.on_segment is not None:
                    self.on_segment(thread, "", len(thread.pending), self.tick)
                self.acc.generated_tokens += len(thread.pending)
                thread.generated_tokens += len(thread.pending)
                _add_span(thread)
                thread.tokens.extend(thread.pending)
                self.live_kv += len(thread.pending)
                thread.pending = []
            if thread.live:
                self._end(thread, "cancelled")
        self.acc.peak_thread_context = max([self.acc.peak_thread_context]
                                           + [len(t.tokens) for t in self.threads])

    # ---- actions --------------------------------------------------------------------------
    def _complete_segment(self, thread: Thread, text: str) -> None:
        self._record(thread, "segment", text=text, tokens=len(thread.pending),
                     context=thread.context_len)
        if self.on_segment is not None:
            self.on_segment(thread, text, len(thread.pending), self.tick)
        thread.generated_tokens += len(thread.pending)
        self.acc.generated_tokens += len(thread.pending)
        _add_span(thread)
        thread.tokens.extend(thread.pending)
        self.live_kv += len(thread.pending)
        self._touched[thread.id] = thread
        thread.pending = []
        thread.segments += 1
        thread.at_boundary = True
        thread.news = []
        try:
            action = self._parse(thread, text)
        except ProtocolError as error:
            raise _Stop(RunStatus.PROTOCOL_ERROR, f"thread {thread.name}: {error}") from None
        if action.verb not in self.verbs:
            raise _Stop(RunStatus.PROTOCOL_ERROR,
                        f"thread {thread.name}: @{action.verb} is not part of this paradigm")
        unasked, thread.unasked_news = thread.unasked_news, False
        thread.preempted = action.verb == "exit" and unasked
        getattr(self, f"_do_{action.verb}")(thread, action)
        if thread.state is ThreadState.RUNNABLE and thread.mailbox and not thread.recv_one:
            thread.unasked_news = True  # delivered before its next segment, unasked

    def _parse(self, thread: Thread, text: str) -> Action:
        if not self.tolerant:
            return protocol.parse_segment(text)
        # a segment without any action ends the thread with its last line as the result
        fallback = ("return" if thread.parent is not None and "return" in self.verbs
                    else "answer" if "answer" in self.verbs else None)
        action, repairs = protocol.parse_segment_tolerant(text, fallback)
        if repairs:
            self.acc.protocol_repairs += len(repairs)
            self._record(thread, "repair", repairs=list(repairs))
        return action

    def _end(self, thread: Thread, how: str, payload: str = "") -> None:
        self._set_state(thread, ThreadState.DONE)
        self.live_kv -= len(thread.tokens)
        thread.end = how
        self._record(thread, "end", how=how, payload=payload, preempted=thread.preempted,
                     context=len(thread.tokens))
        thread.ended_at = self.tick
        thread.mailbox.clear()
        self.policy.on_end(thread)

    def _do_answer(self, thread: Thread, action: Action) -> None:
        thread.answer = action.payload
        self.answers[thread.name] = action.payload
        self._end(thread, "answer", action.payload)

    def _do_exit(self, thread: Thread, action: Action) -> None:
        self._end(thread, "exit")

    def _do_send(self, thread: Thread, action: Action) -> None:
        self._record(thread, "send", to=list(action.targets), payload=action.payload)
        for target in self._recipients(thread, action.targets):
            if not target.live:
                self.acc.dropped_messages += 1
                continue
            target.mailbox.append(Message(thread.name, action.payload, self.tick))
            if target.state is ThreadState.RECV:
                self._set_state(target, ThreadState.RUNNABLE)

    def _recipients(self, sender: Thread, names: tuple[str, ...]) -> list[Thread]:
        """Threads named, and members of groups named (not the sender), each once."""
        found: dict[int, Thread] = {}
        for name in names:
            if name in self.by_name:
                members = [self.by_name[name]]
            elif name in self.groups:
                members = [t for t in self.groups[name] if t is not sender]
            else:
                raise _Stop(RunStatus.PROTOCOL_ERROR, f"thread {sender.name}: no thread named {name!r}")
            for member in members:
                found.setdefault(member.id, member)
        return list(found.values())

    def _do_recv(self, thread: Thread, action: Action) -> None:
        thread.asked = True
        if not thread.mailbox:
            self._set_state(thread, ThreadState.RECV)

    def _do_poll(self, thread: Thread, action: Action) -> None:
        pass  # the thread stays runnable; its mailbox is delivered at this boundary

    def _do_fork(self, thread: Thread, action: Action) -> None:
        first = len(self.threads)
        for task in action.targets:
            child = self._new_thread(f"{thread.name}.{thread.children}", "child", parent=thread.id)
            thread.children += 1
            child.tokens = thread.tokens[:]
            child.copied_tokens = len(child.tokens)
            self.acc.kv_copied_tokens += len(child.tokens)
            self.live_kv += len(child.tokens)
            self.policy.on_fork(thread, child)
            thread.unjoined.append(child.id)
            self._insert(child, "task", self.expand_task(task) if self.expand_task else task)
            self._record(child, "spawn", role=child.role, parent=thread.name,
                         tokens=len(child.tokens), task=task)
        self._record(thread, "fork", children=[t.name for t in self.threads[first:]])

    def _do_join(self, thread: Thread, action: Action) -> None:
        if all(child in thread.returned for child in thread.unjoined):
            self._insert_join_results(thread)
        else:
            self._set_state(thread, ThreadState.JOIN)

    def _insert_join_results(self, parent: Thread) -> None:
        self._record(parent, "join", children=[self.threads[c].name for c in parent.unjoined])
        for child_id in parent.unjoined:
            child, payload = self.threads[child_id], parent.returned.pop(child_id)
            tokens = self._insert(parent, child.name, payload)
            self.acc.messages += 1
            self.acc.message_tokens += tokens
            # a join result is the child's message to its parent, sent when it returned
            self._record(parent, "deliver", payload=payload, sent_at=child.ended_at,
                         tokens=tokens, **{"from": child.name})
        parent.unjoined = []
        self._set_state(parent, ThreadState.RUNNABLE)

    def _do_return(self, thread: Thread, action: Action) -> None:
        if thread.parent is None:
            raise _Stop(RunStatus.PROTOCOL_ERROR, f"thread {thread.name}: @return without a parent")
        parent = self.threads[thread.parent]
        parent.returned[thread.id] = action.payload
        self._end(thread, "return", action.payload)
        if parent.state is ThreadState.JOIN and all(c in parent.returned for c in parent.unjoined):
            self._insert_join_results(parent)
