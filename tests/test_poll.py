"""@poll: an MPLM thread ends a segment without waiting; news that arrived is inserted now."""
from mplm_bench.paradigms import MPLM
from mplm_bench.policies.scripted import ScriptedProgram, scripted_policy
from mplm_bench.runtime import protocol
from mplm_bench.runtime.protocol import Action
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.thread import ThreadSpec


def test_poll_is_a_bare_mplm_verb():
    assert "poll" in MPLM.verbs and "poll" in protocol.VERBS_BARE
    assert protocol.format_action(Action("poll")) == "@poll\n"
    assert protocol.parse_segment("x1=T by c3\n@poll\n") == Action("poll")
    assert '"@poll"' in protocol.grammar(MPLM.verbs)


def run(programs):
    specs = [ThreadSpec(name, "t", f"P{name}\n") for name in programs]
    return Scheduler(specs, MPLM.verbs, scripted_policy(programs)).run()


def test_polling_never_blocks():
    outcome = run({"w": ScriptedProgram(["a\n@poll\n", "b\n@poll\n", "@answer 2\n"])})
    w = outcome.threads[0]
    # 8 + 8 + 10 characters, one token each, one decode step each: no waiting between
    assert outcome.status is None and w.answer == "2" and outcome.ticks == 26
    assert w.segments == 3 and not w.preempted


def test_a_polling_worker_is_preempted_at_its_next_boundary():
    chunk = "w" * 20 + "\n@poll\n"  # 27 tokens
    worker = ScriptedProgram([lambda news: "@exit\n" if news else chunk] * 10)
    finder = ScriptedProgram(["f" * 30 + "\n@send w found\n", "@answer done\n"])
    outcome = run({"w": worker, "finder": finder})
    w = {t.name: t for t in outcome.threads}["w"]
    # the find completes at tick 45, inside the worker's second chunk (ticks 28-54): the
    # worker sees it at that boundary and exits, 3 segments instead of 10
    assert w.segments == 3 and w.end == "exit" and w.preempted
    assert w.generated_tokens == 27 + 27 + 6
    assert sum(t.preempted for t in outcome.threads) == 1
