"""Trace files (`RUN_DIR/traces/*.jsonl`) read back into a thread timeline, and its plot.

A trace is a header line then one event per line in time order; ticks are decode steps.
The timeline is plain data (lanes, arrows, marks) so tests can check it exactly and the
plot can be redrawn from saved files at any time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


ARROW_HEADS_MAX = 200  # above this many sends, draw plain lines with a dot at delivery


@dataclass(frozen=True)
class Lane:
    """One thread's life: from its spawn tick to its end tick (decode steps)."""
    name: str
    role: str
    start: int
    end: int
    preempted: bool = False
    how: str | None = None  # answer | return | exit | cancelled; None if it never ended


@dataclass(frozen=True)
class Arrow:
    """A delivered message: sent at tick t0 by lane0, inserted at tick t1 into lane1."""
    t0: int
    lane0: str
    t1: int
    lane1: str


@dataclass(frozen=True)
class Mark:
    """A fork or join on the parent's lane at a tick, with the children involved."""
    tick: int
    lane: str
    children: tuple[str, ...]


@dataclass
class Timeline:
    lanes: list[Lane] = field(default_factory=list)  # in spawn order
    arrows: list[Arrow] = field(default_factory=list)
    forks: list[Mark] = field(default_factory=list)
    joins: list[Mark] = field(default_factory=list)
    total_threads: int = 0  # before any cap

    def first(self, count: int) -> "Timeline":
        """The first `count` lanes by spawn, with only the arrows and marks they hold."""
        kept = self.lanes[:count]
        names = {lane.name for lane in kept}
        return replace(
            self, lanes=kept,
            arrows=[a for a in self.arrows if a.lane0 in names and a.lane1 in names],
            forks=[m for m in self.forks if m.lane in names],
            joins=[m for m in self.joins if m.lane in names])


def build_timeline(events: list[dict]) -> Timeline:
    """Lanes from spawn/end, arrows from deliveries, marks from forks and joins."""
    starts: dict[str, int] = {}  # thread -> first tick seen (spawn, or first event)
    roles: dict[str, str] = {}
    ends: dict[str, dict] = {}
    timeline = Timeline()
    last_tick = 0
    for event in events:
        tick, thread, kind = int(event["tick"]), event["thread"], event["event"]
        last_tick = max(last_tick, tick)
        starts.setdefault(thread, tick)
        if kind == "spawn":
            roles[thread] = event.get("role") or ""
        elif kind == "deliver":
            timeline.arrows.append(Arrow(int(event["sent_at"]), event["from"], tick, thread))
        elif kind in ("fork", "join"):
            marks = timeline.forks if kind == "fork" else timeline.joins
            marks.append(Mark(tick, thread, tuple(event.get("children") or ())))
        elif kind == "end":
            ends[thread] = dict(event)
    for name, start in starts.items():
        end = ends.get(name)
        timeline.lanes.append(Lane(
            name=name, role=roles.get(name, ""), start=start,
            end=int(end["tick"]) if end else last_tick,
            preempted=bool(end and end.get("preempted")), how=end and end.get("how")))
    # arrows need both ends on the timeline (a runtime line has no sender lane)
    timeline.arrows = [a for a in timeline.arrows if a.lane0 in starts and a.lane1 in starts]
    timeline.total_threads = len(timeline.lanes)
    return timeline


def end_contexts(events: list[dict]) -> list[int]:
    """Each ended thread's final context length (tokens), from its `end` event."""
    return [int(e["context"]) for e in events if e.get("event") == "end" and "context" in e]


def plot_timeline(timeline: Timeline, ax) -> None:
    """Lanes top to bottom in spawn order; sends as arrows; forks, joins, preemptions marked."""
    index = {lane.name: row for row, lane in enumerate(timeline.lanes)}
    _draw_lanes(timeline, ax)
    _draw_arrows(timeline.arrows, index, ax)
    for marks, marker, colour, label in ((timeline.forks, "v", "tab:green", "fork"),
                                         (timeline.joins, "s", "tab:purple", "join")):
        if marks:
            ax.scatter([m.tick for m in marks], [index[m.lane] for m in marks], marker=marker,
                       s=36, color=colour, zorder=4, label=label)
    preempted = [lane for lane in timeline.lanes if lane.preempted]
    if preempted:
        ax.scatter([lane.end for lane in preempted], [index[lane.name] for lane in preempted],
                   marker="x", s=40, color="red", zorder=5, label="preempted")
    answers = [lane for lane in timeline.lanes if lane.how == "answer"]
    if answers:
        ax.scatter([lane.end for lane in answers], [index[lane.name] for lane in answers],
                   marker="*", s=70, color="goldenrod", zorder=5, label="answer")
    _label_axes(timeline, ax)


def _draw_lanes(timeline: Timeline, ax) -> None:
    roles = list(dict.fromkeys(lane.role for lane in timeline.lanes))
    colours = {role: f"C{k % 10}" for k, role in enumerate(roles)}
    labelled: set[str] = set()  # one legend entry per role, and none past 8 roles
    for row, lane in enumerate(timeline.lanes):
        label = None
        if len(roles) <= 8 and lane.role and lane.role not in labelled:
            label = f"role {lane.role}"
            labelled.add(lane.role)
        # a thread that lives for zero ticks still gets a visible stub (half a tick)
        ax.plot([lane.start, max(lane.end, lane.start + 0.5)], [row, row], lw=3,
                color=colours[lane.role], solid_capstyle="butt", zorder=2, label=label)


def _draw_arrows(arrows: list[Arrow], index: dict[str, int], ax) -> None:
    from matplotlib.collections import LineCollection

    if not arrows:
        return
    if len(arrows) <= ARROW_HEADS_MAX:
        for a in arrows:
            ax.annotate("", xy=(a.t1, index[a.lane1]), xytext=(a.t0, index[a.lane0]), zorder=3,
                        arrowprops=dict(arrowstyle="->", lw=0.6, color="0.35", alpha=0.7,
                                        shrinkA=0, shrinkB=0))
        return
    segments = [((a.t0, index[a.lane0]), (a.t1, index[a.lane1])) for a in arrows]
    ax.add_collection(LineCollection(segments, linewidths=0.3, colors="0.35", alpha=0.35,
                                     zorder=3))
    ax.scatter([a.t1 for a in arrows], [index[a.lane1] for a in arrows], s=3, color="0.25",
               zorder=3)


def _label_axes(timeline: Timeline, ax) -> None:
    rows = len(timeline.lanes)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([lane.name for lane in timeline.lanes], fontsize=7 if rows > 25 else 9)
    ax.set_ylim(rows - 0.5, -0.5)  # first spawned thread on top
    ax.set_xlabel("tick (decode steps)")
    ax.grid(axis="x", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # outside the axes, so it never hides the end marks in the top right
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
