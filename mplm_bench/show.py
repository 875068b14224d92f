"""`mplm-bench show`: one instance's threads as a Rich tree with their text, from traces."""
from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.tree import Tree

from mplm_bench.results import ResultsError, read_run_folder, read_trace, trace_path

TEXT_LIMIT = 400  # characters of a segment or message shown before "..."


def _short(text: str) -> str:
    text = text.rstrip("\n")
    return escape(text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " ...")


def paradigms_of(out: Path, instance_id: str) -> list[str]:
    """Paradigms that ran this instance, in results order; a folder that is not a run
    folder, or an instance it has no rows for, is one line."""
    rows, _ = read_run_folder(out)
    found = [row["paradigm"] for row in rows if row["instance_id"] == instance_id]
    if not found:
        raise ResultsError(f"no rows for instance {instance_id!r} in {out}")
    return found


def thread_tree(out: Path, instance_id: str, paradigm: str, max_threads: int) -> Tree:
    path = trace_path(out, instance_id, paradigm)
    if not path.exists():
        raise ResultsError(f"no trace for {instance_id} {paradigm} in {out} (run with --trace)")
    header, events = read_trace(path)
    root = Tree(f"[bold]{escape(instance_id)}[/] {paradigm}: {header['status']}")
    nodes: dict[str, Tree] = {}
    hidden = 0
    for event in events:
        name = event["thread"]
        if event["event"] == "spawn":
            if len(nodes) >= max_threads:
                hidden += 1
                continue
            parent = nodes.get(event["parent"] or "", root)
            nodes[name] = parent.add(f"[cyan]{escape(name)}[/] ({event['role']}, "
                                     f"{event['tokens']} tokens at start)")
        elif name in nodes:
            _add_event(nodes[name], event)
    if hidden:
        root.add(f"... {hidden} more threads (raise --max-threads)")
    return root


def _add_event(node: Tree, event: dict) -> None:
    kind = event["event"]
    if kind == "segment":
        node.add(f"[dim]t={event['tick']}[/] {_short(event['text'])}")
    elif kind == "deliver":
        node.add(f"[dim]t={event['tick']}[/] [green]<< {escape(event['from'])}:[/] "
                 f"{_short(event['payload'])}")
    elif kind == "join":
        node.add(f"[dim]t={event['tick']}[/] [green]joined[/] {', '.join(event['children'])}")
    elif kind == "end":
        mark = " [red]preempted[/]" if event["preempted"] else ""
        node.label = f"{node.label} -> {event['how']}, {event['context']} tokens{mark}"
