"""The shipped protocol model (models/sudoku-protocol.gguf) solves Sudoku by message passing
through llama.cpp, and writes what the reference programs write: every segment of every
thread equals its program's, fed the messages the run delivered to that thread."""
import json

from typer.testing import CliRunner

from mplm_bench.cli import app
from mplm_bench.paradigms import MPLM
from mplm_bench.results import read_trace
from mplm_bench.runtime.thread import Message
from mplm_bench.tasks.sudoku import SudokuTask


def departures(trace_path) -> tuple[int, list[str]]:
    """Segments checked, and those that differ from the oracle program's."""
    head, events = read_trace(trace_path)
    task = SudokuTask()
    seed = int(head["instance_id"].split("-s")[1].split("-")[0])
    programs = task.setup(task.instances(head["size"], 1, seed)[0], MPLM).programs()
    news: dict[str, list[Message]] = {}
    checked, differ = 0, []
    for event in events:
        name = event.get("thread")
        if event["event"] == "deliver":
            news.setdefault(name, []).append(Message(event["from"], event["payload"], event["tick"]))
        elif event["event"] == "segment":
            want = programs[name].next_segment(news.pop(name, []))
            checked += 1
            if event["text"] != want:
                differ.append(f"{name} at tick {event['tick']}: {event['text']!r}, not {want!r}")
    return checked, differ


def test_the_shipped_model_solves_4x4_and_9x9_as_the_oracle_would(tmp_path):
    for size, count in ((4, 3), (9, 1)):
        out = tmp_path / f"n{size}"
        result = CliRunner().invoke(app, [
            "run", "sudoku", "--size", str(size), "--instances", str(count), "--paradigms",
            "mplm", "--policy", "model", "--model", "sudoku-protocol", "--threads", "2",
            "--trace", "--out", str(out)])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert [(row["status"], row["correct"]) for row in rows] == [("solved", True)] * count
        for trace in sorted((out / "traces").glob("*.jsonl")):
            checked, differ = departures(trace)
            assert checked > 50 and differ == [], (trace.name, differ[:3])
