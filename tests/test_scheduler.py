"""Runtime semantics with a scripted policy and a character tokenizer (1 char = 1 token)."""
import pytest

from mplm_bench.paradigms import FORK_JOIN, MPLM
from mplm_bench.policies.scripted import ScriptedProgram, scripted_policy
from mplm_bench.runtime.records import Budgets
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import RunStatus, ThreadSpec


def run(programs, verbs=MPLM.verbs, budgets=Budgets(), prompts=None, complete=lambda a: False,
        groups=None, recv_one=()):
    specs = [ThreadSpec(name, "t", (prompts or {}).get(name, f"P{name}\n"),
                        groups=(groups or {}).get(name, ()), recv_one=name in recv_one)
             for name in programs]
    scheduler = Scheduler(specs, verbs, scripted_policy(programs), budgets, answer_complete=complete)
    return scheduler.run()


def by_name(outcome):
    return {t.name: t for t in outcome.threads}


def assert_accounting_invariant(outcome):
    acc = outcome.accounting
    for t in outcome.threads:
        assert len(t.tokens) == t.prompt_tokens + t.copied_tokens + t.inserted_tokens + t.generated_tokens
    assert sum(len(t.tokens) for t in outcome.threads) == (
        acc.prefill_tokens + acc.kv_copied_tokens + acc.generated_tokens)


def test_messages_are_delivered_in_send_order():
    outcome = run({
        "a": ScriptedProgram(["@send c one\n"]),  # 11 chars: completes at tick 11
        "b": ScriptedProgram(["xxxxxxxx\n@send c two\n"]),  # completes at tick 20
        "c": ScriptedProgram(["@recv\n", "@recv\n", lambda news: f"@answer {len(news)}\n"]),
    })
    c = by_name(outcome)["c"]
    text = "".join(chr(tok) for tok in c.tokens)
    assert text.index("<< a: one\n") < text.index("<< b: two\n")
    assert c.answer == "1"  # each recv woke on one message: the third segment saw none new
    assert outcome.status is None and outcome.accounting.messages == 2
    assert_accounting_invariant(outcome)


def test_a_recv_one_thread_reads_one_message_per_recv_and_none_unasked():
    def seen(news):
        return f"@send log {len(news)}:{''.join(m.payload for m in news)}\n"

    def programs():
        return {
            "a": ScriptedProgram(["@send c x\n"]),
            "b": ScriptedProgram(["@send c y\n"]),  # both arrive before c's recv is written
            "c": ScriptedProgram(["x" * 20 + "\n@recv\n", seen, seen, "@recv\n", seen, "@exit\n"]),
            "log": ScriptedProgram(["@recv\n"] * 3 + ["@exit\n"]),
        }

    def log_lines(outcome):
        text = "".join(chr(tok) for tok in by_name(outcome)["log"].tokens)
        return [line[len("<< c: "):] for line in text.splitlines() if line.startswith("<< c: ")]

    outcome = run(programs(), recv_one=("c",))
    # x at the first recv; after its send, y waits unread until c asks again
    assert log_lines(outcome) == ["1:x", "0:", "1:y"]
    assert outcome.status is None and not by_name(outcome)["c"].preempted
    assert_accounting_invariant(outcome)
    outcome = run(programs())  # without it: both at once, at the first boundary after them
    assert log_lines(outcome) == ["2:xy", "0:"]
    assert_accounting_invariant(outcome)


def test_a_send_to_groups_reaches_each_other_member_once():
    def count_news(news):
        return f"@answer {' '.join(m.payload for m in news) or '-'}\n"
    outcome = run({
        "a": ScriptedProgram(["@send g,h hi\n", count_news]),
        "b": ScriptedProgram(["@recv\n", count_news]),  # in g and h: one copy
        "c": ScriptedProgram(["@recv\n", count_news]),  # in h only
        "d": ScriptedProgram(["x" * 20 + "\n@poll\n", count_news]),  # in no group
    }, groups={"a": ("g",), "b": ("g", "h"), "c": ("h",)})
    answers = {t.name: t.answer for t in outcome.threads}
    assert answers == {"a": "-", "b": "hi", "c": "hi", "d": "-"}  # not back to the sender
    assert outcome.accounting.messages == 2
    assert_accounting_invariant(outcome)


def test_a_group_named_like_a_thread_is_a_task_error():
    with pytest.raises(ValueError, match="group names that are also thread names: b"):
        run({"a": ScriptedProgram(["@send b hi\n"]), "b": ScriptedProgram(["@recv\n"])},
            groups={"a": ("b",)})


def test_a_peer_message_stops_a_worker_early():
    long_step = "w" * 30 + "\n@send w busy\n"
    worker = ScriptedProgram([lambda news: "@exit\n" if news else long_step] * 10)
    outcome = run({
        "w": worker,
        "finder": ScriptedProgram(["@send w found\n", "@answer done\n"]),
    }, prompts={"w": "Pw\n", "finder": "Pf\n"})
    w = by_name(outcome)["w"]
    assert w.preempted and w.end == "exit"
    # the worker finished its first segment (its own send delivered back to itself comes later)
    # then saw "found" at the boundary and exited: 2 segments, not 10
    assert w.segments == 2
    assert sum(t.preempted for t in outcome.threads) == 1
    assert_accounting_invariant(outcome)


def test_fork_copies_the_parent_context_and_join_inserts_results_in_order():
    child = ScriptedProgram([lambda news: f"@return got {news[0].payload}\n"])
    root = ScriptedProgram(["@fork x | yy\n", "@join\n",
                            lambda news: "@answer " + ",".join(m.payload for m in news) + "\n"],
                           child=child)
    outcome = run({"root": root}, verbs=FORK_JOIN.verbs, prompts={"root": "Proot\n"})
    threads = by_name(outcome)
    assert threads["root"].answer == "got x,got yy"
    copied = len("Proot\n@fork x | yy\n")
    assert threads["root.0"].copied_tokens == copied and threads["root.1"].copied_tokens == copied
    assert outcome.accounting.kv_copied_tokens == 2 * copied
    child_text = "".join(chr(t) for t in threads["root.1"].tokens)
    assert child_text == "Proot\n@fork x | yy\n<< task: yy\n@return got yy\n"
    assert_accounting_invariant(outcome)


def test_critical_path_counts_parallel_steps_once():
    outcome = run({"a": ScriptedProgram(["@answer 1\n"]), "b": ScriptedProgram(["@answer 22\n"])})
    assert outcome.ticks == len("@answer 22\n")
    assert outcome.accounting.generated_tokens == len("@answer 1\n") + len("@answer 22\n")
    assert outcome.accounting.max_concurrent == 2


def test_all_blocked_is_a_deadlock():
    outcome = run({"a": ScriptedProgram(["@recv\n"]), "b": ScriptedProgram(["@recv\n"])})
    assert outcome.status is RunStatus.DEADLOCK
    assert_accounting_invariant(outcome)


def test_token_budget():
    outcome = run({"a": ScriptedProgram(["x" * 50 + "\n@answer 1\n"])}, budgets=Budgets(max_tokens=20))
    assert outcome.status is RunStatus.BUDGET_EXHAUSTED


def test_context_overflow():
    outcome = run({"a": ScriptedProgram(["x" * 50 + "\n@answer 1\n"])}, budgets=Budgets(window=30))
    assert outcome.status is RunStatus.CONTEXT_OVERFLOW
    assert "thread a" in outcome.detail


def test_thread_budget():
    root = ScriptedProgram(["@fork a | b | c\n", "@join\n", "@answer x\n"])
    outcome = run({"root": root}, verbs=FORK_JOIN.verbs, budgets=Budgets(max_threads=3))
    assert outcome.status is RunStatus.BUDGET_EXHAUSTED


def test_live_kv_budget_stops_a_run_whose_threads_hold_more_kv():
    def root():  # three children, each holding a copy of the root's 22-token context
        return {"root": ScriptedProgram(["@fork a | b | c\n", "@join\n", "@answer x\n"],
                                        child=ScriptedProgram(["@return x\n"]))}

    free = run(root(), verbs=FORK_JOIN.verbs)
    peak = free.accounting.peak_live_kv
    assert free.status is None and peak > 4 * len("Proot\n@fork a | b | c\n")
    assert run(root(), verbs=FORK_JOIN.verbs, budgets=Budgets(max_live_kv=peak)).status is None
    over = run(root(), verbs=FORK_JOIN.verbs, budgets=Budgets(max_live_kv=peak - 1))
    assert over.status is RunStatus.BUDGET_EXHAUSTED and f"{peak - 1} KV tokens" in over.detail


def test_protocol_errors_are_statuses():
    assert run({"a": ScriptedProgram(["@jump\n"])}).status is RunStatus.PROTOCOL_ERROR
    assert run({"a": ScriptedProgram(["@fork x\n"])}).status is RunStatus.PROTOCOL_ERROR  # not MPLM
    unknown = run({"a": ScriptedProgram(["@send nobody hi\n"])})
    assert unknown.status is RunStatus.PROTOCOL_ERROR and "nobody" in unknown.detail


def test_messages_to_finished_threads_are_dropped():
    outcome = run({"a": ScriptedProgram(["@answer 1\n"]),
                   "b": ScriptedProgram(["xxxxxxxxxxxxxxxx\n@send a late\n"])})
    assert outcome.accounting.dropped_messages == 1 and outcome.accounting.messages == 0


def test_run_stops_once_the_answer_is_complete():
    outcome = run({"a": ScriptedProgram(["@answer 1\n"]), "b": ScriptedProgram(["x" * 99 + "\n@exit\n"])},
                  complete=lambda answers: "a" in answers)
    assert outcome.status is None
    assert by_name(outcome)["b"].end == "cancelled"
    assert by_name(outcome)["b"].generated_tokens == len("@answer 1\n")  # decoded until the stop
    assert outcome.ticks == len("@answer 1\n")
    assert_accounting_invariant(outcome)


def test_trace_records_every_event_in_time_order():
    from mplm_bench.runtime.trace import Trace

    child = ScriptedProgram([lambda news: f"@return {news[0].payload}!\n"])
    programs = {"root": ScriptedProgram(["@fork x\n", "@join\n", "@answer ok\n"], child=child)}
    trace = Trace()
    specs = [ThreadSpec("root", "main", "P\n")]
    Scheduler(specs, FORK_JOIN.verbs, scripted_policy(programs), trace=trace).run()
    summary = [(e["tick"], e["thread"], e["event"]) for e in trace.events]
    assert summary == [
        (0, "root", "spawn"),
        (8, "root", "segment"), (8, "root.0", "spawn"), (8, "root", "fork"),
        (14, "root", "segment"),  # @join: the child is still writing
        (19, "root.0", "segment"), (19, "root.0", "end"), (19, "root", "join"),
        (19, "root", "deliver"),  # the join result, from the child
        (30, "root", "segment"), (30, "root", "end"),
    ]
    assert trace.events[2]["task"] == "x" and trace.events[2]["parent"] == "root"
    assert trace.events[8]["from"] == "root.0" and trace.events[8]["payload"] == "x!"
    assert trace.events[6] == {"tick": 19, "thread": "root.0", "event": "end", "how": "return",
                                    "payload": "x!", "preempted": False,
                                    "context": len("P\n@fork x\n<< task: x\n@return x!\n")}


def test_trace_of_messages_names_sender_and_send_tick():
    from mplm_bench.runtime.trace import Trace

    trace = Trace()
    programs = {"a": ScriptedProgram(["@send b hi\n"]), "b": ScriptedProgram(["@recv\n", "@answer 1\n"])}
    specs = [ThreadSpec(name, "t", "P\n") for name in programs]
    Scheduler(specs, MPLM.verbs, scripted_policy(programs), trace=trace).run()
    deliver = next(e for e in trace.events if e["event"] == "deliver")
    assert deliver == {"tick": 11, "thread": "b", "event": "deliver", "from": "a", "payload": "hi",
                       "sent_at": 11, "tokens": len("<< a: hi\n")}
    send = next(e for e in trace.events if e["event"] == "send")
    assert send["to"] == ["b"] and send["tick"] == 11


def test_tokens_after_the_first_find_are_counted_per_decode_step():
    from mplm_bench.tasks.base import TokensAfter

    after = TokensAfter(lambda text: "found" in text)
    seen = []

    def hook(thread, text, tokens, tick):
        seen.append((thread.name, tokens, tick))
        after.on_segment(thread, text, tokens, tick)

    worker = ScriptedProgram([lambda news: "@exit\n" if news else "w" * 30 + "\n@send w busy\n"])
    programs = {"w": worker, "finder": ScriptedProgram(["@send w found\n", "@answer done\n"])}
    specs = [ThreadSpec(name, "t", f"P{name}\n") for name in programs]
    outcome = Scheduler(specs, MPLM.verbs, scripted_policy(programs), on_segment=hook).run()
    # finder: 14-token send done at tick 14, 13-token answer at 27; worker: 44 tokens at 44,
    # then a 6-token exit at 50
    assert seen == [("finder", 14, 14), ("finder", 13, 27), ("w", 44, 44), ("w", 6, 50)]
    assert after.tick == 14
    # after tick 14: the answer (13), 30 of the worker's 44, its exit (6)
    assert after.tokens == 13 + 30 + 6 == outcome.accounting.generated_tokens - 14 - 14


def test_task_metrics_become_row_columns_and_may_not_shadow_one():
    import pytest

    from mplm_bench.metrics import make_row
    from mplm_bench.runtime.thread import RunStatus as Status

    outcome = run({"a": ScriptedProgram(["@answer 1\n"])})
    identity = dict(task="t", size=1, instance_id="i", paradigm="mplm", policy="oracle",
                    model="m", seed=0)
    row = make_row(outcome, Status.SOLVED, True, {"f1": 0.5}, **identity).to_dict()
    assert row["f1"] == 0.5 and "task_metrics" not in row and row["schema_version"] == 2
    with pytest.raises(ValueError, match="threads"):
        make_row(outcome, Status.SOLVED, True, {"threads": 1.0}, **identity).to_dict()


def test_tolerant_runs_count_repairs_and_strict_runs_stop():
    programs = lambda: {"a": ScriptedProgram(["I will **@send b** hi\n", "@recv\n"]),
                        "b": ScriptedProgram(["@recv\n", "the end is **near**"])}
    specs = [ThreadSpec(name, "t", f"P{name}\n") for name in "ab"]
    strict = Scheduler(specs, MPLM.verbs, scripted_policy(programs())).run()
    assert strict.status is RunStatus.PROTOCOL_ERROR
    tolerant = Scheduler(specs, MPLM.verbs, scripted_policy(programs()), tolerant=True,
                         answer_complete=lambda answers: "b" in answers).run()
    assert tolerant.status is None and tolerant.answers == {"b": "the end is near"}
    assert tolerant.accounting.protocol_repairs == 3  # inline + markup, then no-action


def test_expand_task_inserts_the_expanded_text_into_the_child_as_prefill():
    programs = {"r": ScriptedProgram(["@fork c1\n", "@join\n"], then="@answer ok\n",
                                     child=ScriptedProgram([lambda news: f"@return {len(news[0].payload)}\n"]))}
    specs = [ThreadSpec("r", "t", "Pr\n")]
    outcome = Scheduler(specs, FORK_JOIN.verbs, scripted_policy(programs),
                        expand_task=lambda task: f"{task}: chunk text").run()
    child = by_name(outcome)["r.0"]
    assert child.inserted_tokens == len("<< task: c1: chunk text\n")
    assert by_name(outcome)["r"].answer == "ok"
    assert "<< r.0: 14\n" in "".join(map(chr, by_name(outcome)["r"].tokens))
    assert_accounting_invariant(outcome)


def test_more_roots_than_the_thread_budget_is_a_budget_stop_not_a_crash():
    programs = {name: ScriptedProgram(["@answer 1\n"]) for name in ("a", "b", "c")}
    outcome = run(programs, budgets=Budgets(max_threads=2))
    assert outcome.status is RunStatus.BUDGET_EXHAUSTED
    assert outcome.detail == "more than 2 threads"
    # the roots made before the budget tripped are the run's threads, ended unrun
    assert [t.name for t in outcome.threads] == ["a", "b"]
    assert all(t.end == "cancelled" and t.generated_tokens == 0 for t in outcome.threads)
    assert outcome.ticks == 0 and not outcome.answers
    assert outcome.accounting.prefill_tokens == len("Pa\n") + len("Pb\n")
    assert_accounting_invariant(outcome)
