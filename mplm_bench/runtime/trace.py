"""Per-thread events of one run, recorded when asked (`run ... --trace`).

Each event is a dict {"tick", "thread", "event", ...} in time order (ticks are decode
steps). Events: spawn (role, parent, tokens), segment (text, tokens, context), send (to,
payload), deliver (from, payload, sent_at, tokens: a message or a join result), fork
(children), join (children), end (how, payload, preempted, context). The file format is
in results.write_trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Trace:
    events: list[dict] = field(default_factory=list)

    def add(self, tick: int, thread: str, event: str, **data) -> None:
        self.events.append({"tick": tick, "thread": thread, "event": event, **data})
