"""The trace reader and thread timeline, on a small trace written by hand."""
import json

import pytest
from matplotlib.figure import Figure

from mplm_bench.results import ResultsError, read_trace
from mplm_bench.timeline import Arrow, Lane, Mark, build_timeline, end_contexts, plot_timeline

HEADER = {"kind": "header", "schema_version": 1, "task": "sudoku", "size": 4,
          "instance_id": "n4-s0-singles", "paradigm": "mplm", "policy": "oracle",
          "status": "solved"}
# a forks x and joins it; b sends to c at tick 5 (delivered at 7), then exits preempted
EVENTS = [
    {"tick": 0, "thread": "a", "event": "spawn", "role": "main", "parent": None, "tokens": 10},
    {"tick": 0, "thread": "b", "event": "spawn", "role": "cell", "parent": None, "tokens": 8},
    {"tick": 1, "thread": "c", "event": "spawn", "role": "cell", "parent": None, "tokens": 8},
    {"tick": 2, "thread": "a", "event": "segment", "text": "@fork t\n", "tokens": 3, "context": 13},
    {"tick": 2, "thread": "a", "event": "fork", "children": ["x"]},
    {"tick": 2, "thread": "x", "event": "spawn", "role": "child", "parent": "a", "tokens": 15},
    {"tick": 4, "thread": "x", "event": "end", "how": "return", "payload": "1", "preempted": False,
     "context": 18},
    {"tick": 5, "thread": "b", "event": "send", "to": ["c"], "payload": "hi"},
    {"tick": 5, "thread": "a", "event": "join", "children": ["x"]},
    {"tick": 7, "thread": "c", "event": "deliver", "from": "b", "payload": "hi", "sent_at": 5,
     "tokens": 4},
    {"tick": 8, "thread": "b", "event": "end", "how": "exit", "payload": "", "preempted": True,
     "context": 20},
    {"tick": 9, "thread": "c", "event": "end", "how": "answer", "payload": "42", "preempted": False,
     "context": 40},
]


def write_trace(path, header=HEADER, events=EVENTS, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *events]) + tail)
    return path


def test_read_trace_gives_header_and_events_and_drops_a_torn_tail(tmp_path):
    header, events = read_trace(write_trace(tmp_path / "t.jsonl", tail='{"tick": 10, "thr'))
    assert header == HEADER and events == EVENTS


def test_timeline_lanes_arrows_and_marks_are_exact():
    timeline = build_timeline(EVENTS)
    assert timeline.lanes == [
        Lane("a", "main", 0, 9, False, None),  # never ended: lasts to the last tick
        Lane("b", "cell", 0, 8, True, "exit"),
        Lane("c", "cell", 1, 9, False, "answer"),
        Lane("x", "child", 2, 4, False, "return"),
    ]
    assert timeline.arrows == [Arrow(5, "b", 7, "c")]
    assert timeline.forks == [Mark(2, "a", ("x",))]
    assert timeline.joins == [Mark(5, "a", ("x",))]
    assert timeline.total_threads == 4
    assert end_contexts(EVENTS) == [18, 20, 40]


def test_a_capped_timeline_keeps_only_what_its_lanes_hold():
    capped = build_timeline(EVENTS).first(2)
    assert [lane.name for lane in capped.lanes] == ["a", "b"]
    assert capped.arrows == []  # c is hidden
    assert capped.forks == [Mark(2, "a", ("x",))] and capped.total_threads == 4


def test_plot_timeline_draws_a_lane_per_thread_and_marks_preemption():
    ax = Figure().subplots()
    plot_timeline(build_timeline(EVENTS), ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c", "x"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"fork", "join", "preempted", "answer"} <= set(legend)


@pytest.mark.parametrize("header, words", [
    ({"tick": 0, "thread": "a", "event": "spawn"}, "not a trace header"),
    ({**HEADER, "schema_version": 99}, "schema_version 99"),
])
def test_a_bad_trace_header_is_a_results_error(tmp_path, header, words):
    with pytest.raises(ResultsError, match=words):
        read_trace(write_trace(tmp_path / "t.jsonl", header=header))
