"""The one definition of the action syntax: formatter, parser, stop detection, GBNF grammar.

A thread writes *segments*: any number of free lines (its reasoning), then exactly one
action line, which ends the segment:

    @answer <payload>          CoT, FJ, MPLM: the thread's final answer; it finishes
    @fork <task> | <task> ...  FJ: one child per task, each a KV copy of this context
    @join                      FJ: wait until every child returned; results are inserted
    @return <payload>          FJ child: hand the result to the parent and finish
    @send <to>[,<to>...] <payload>   MPLM: message one or several threads by name; a
                               name may be a group the task defines (every member but
                               the sender receives it once)
    @recv                      MPLM: wait for a message (delivered ones are inserted)
    @poll                      MPLM: go on without waiting; messages that arrived meanwhile
                               are inserted now (a long search stays preemptible)
    @exit                      MPLM: finish without an answer

The runtime inserts lines that start with "<< " (messages, join results, a child's task):

    << <sender>: <payload>

Free lines must not start with "@" (that marks an action), payloads are one line, and fork
tasks hold no "|".

Tolerant reading (for prompted models that were not trained on the protocol): an action
may sit inside a line after prose or markdown ("**@answer** 42"), the model may stop with
its end token before the closing newline, or with no action at all (the caller names a
fallback verb whose payload is the last non-empty line). Each such fix is a named repair.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ACTION_MARK = "@"
INSERT_MARK = "<< "
FORK_SEPARATOR = " | "
LINE_END = "\n"  # ends every line: free lines, action lines, inserted lines
NAME_PATTERN = r"[A-Za-z0-9_.#-]+"  # thread names: Sudoku candidates "r3c4#7", groups "b2#7"
_NAME = re.compile(NAME_PATTERN)

VERBS_WITH_PAYLOAD = frozenset({"answer", "return", "fork", "send"})
VERBS_BARE = frozenset({"join", "recv", "poll", "exit"})
VERBS = VERBS_WITH_PAYLOAD | VERBS_BARE


class ProtocolError(ValueError):
    """Text that does not follow the action syntax."""


@dataclass(frozen=True)
class Action:
    verb: str
    payload: str = ""  # answer/return/send payload; fork: unused
    targets: tuple[str, ...] = ()  # send: recipient names; fork: child tasks


def format_action(action: Action) -> str:
    """The action line, newline included."""
    verb = action.verb
    if verb in VERBS_BARE:
        return f"@{verb}\n"
    if verb == "fork":
        return f"@fork {FORK_SEPARATOR.join(action.targets)}\n"
    if verb == "send":
        head = f"@send {','.join(action.targets)}"
        return f"{head} {action.payload}\n" if action.payload else f"{head}\n"
    return f"@{verb} {action.payload}\n"


def format_insert(sender: str, payload: str) -> str:
    """A line the runtime inserts into a thread's context (message, join result, fork task)."""
    return f"{INSERT_MARK}{sender}: {payload}\n"


def find_action_end(text: str, tolerant: bool = False) -> int | None:
    """Index just past the first complete action line of a segment, or None if none yet.

    A model decodes until this returns an index; characters after it (the rest of the
    last token) stay in the context but are not read. Tolerant: a line counts when an
    action can be read from it (read_loose_action); one that cannot is prose."""
    start = 0
    while True:
        newline = text.find("\n", start)
        if newline < 0:
            return None
        if (read_loose_action(text[start:newline]) is not None if tolerant
                else text.startswith(ACTION_MARK, start)):
            return newline + 1
        start = newline + 1


def stop_sequences(after_first_line: bool = False) -> list[str]:
    """Stop strings for a server that writes a segment (it leaves them out of the text).
    No fixed string marks the end of an action line, so a client asks for the first line
    (a segment is often one action line), then for free lines up to the start of the next
    action line ("\n@"), then for that line, its "@" included (a prompt that ends in "@"
    can split a merged "@verb" token): at most three requests a greedy segment."""
    return [LINE_END + ACTION_MARK] if after_first_line else [LINE_END]


def parse_segment(text: str) -> Action:
    """The action that ends a segment (its first action line)."""
    end = find_action_end(text)
    if end is None:
        raise ProtocolError("segment has no complete action line")
    line_start = text.rfind("\n", 0, end - 1) + 1
    return parse_action(text[line_start:end - 1])


# repairs a tolerant reading may make, one count each
REPAIR_INLINE = "inline"  # the action did not start its line (prose or markup before it)
REPAIR_MARKUP = "markup"  # markdown around the verb or the payload ("**@answer** 42")
REPAIR_NO_NEWLINE = "no-newline"  # the segment ended (end token) before the action's newline
REPAIR_NO_ACTION = "no-action"  # no action at all: the fallback verb took the last line
# "@verb" where the "@" opens the line or follows a space or an opening mark of markdown
_LOOSE_VERB = re.compile(r"(?<![^\s*_`>(\[\"'])@(" + "|".join(sorted(VERBS)) + r")(?![A-Za-z])")
_MARKUP = "*_`"


def _unmark(text: str) -> str:
    return text.replace("*", "").replace("`", "").strip().strip("_").strip()


def read_loose_action(line: str) -> tuple[Action, tuple[str, ...]] | None:
    """The first action that parses from anywhere in `line`, with the repairs it took,
    or None. A strict action line reads with no repairs."""
    for match in _LOOSE_VERB.finditer(line):
        before, verb, rest = line[:match.start()], match.group(1), line[match.end():]
        # bold and code marks go wherever they are ("**@send b** hi"), "_" only at the
        # ends (inside a payload or a name it may belong there)
        clean = _unmark(rest)
        clean = " " + clean if clean else ""
        marked = clean.strip() != rest.strip() or (before and not before.strip(_MARKUP + " >-"))
        repairs = [REPAIR_INLINE] if before.strip(_MARKUP + " >-") else []
        repairs += [REPAIR_MARKUP] if marked else []
        try:
            return parse_action(f"@{verb}{clean}"), tuple(repairs)
        except ProtocolError:
            continue
    return None


def parse_segment_tolerant(text: str, fallback: str | None = None
                           ) -> tuple[Action, tuple[str, ...]]:
    """The action that ends a segment, read tolerantly, and the repairs it took.

    `fallback` is the verb to use when the segment has no action at all (the model
    stopped with its end token); its payload is the last non-empty line."""
    end = find_action_end(text, tolerant=True)
    if end is not None:
        line_start = text.rfind("\n", 0, end - 1) + 1
        return read_loose_action(text[line_start:end - 1])
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    found = read_loose_action(last)
    if found is not None:
        return found[0], found[1] + (REPAIR_NO_NEWLINE,)
    if fallback is None:
        raise ProtocolError("segment has no action")
    payload = _unmark(last)
    return parse_action(f"@{fallback} {payload}" if payload else f"@{fallback}"), (REPAIR_NO_ACTION,)


def parse_action(line: str) -> Action:
    """Parse one action line (without its newline)."""
    if not line.startswith(ACTION_MARK):
        raise ProtocolError(f"not an action line: {line[:40]!r}")
    verb, _, rest = line[1:].partition(" ")
    if verb in VERBS_BARE:
        if rest.strip():
            raise ProtocolError(f"@{verb} takes nothing, got {rest[:40]!r}")
        return Action(verb)
    if verb == "fork":
        return Action("fork", targets=_parse_fork_tasks(rest))
    if verb == "send":
        names, _, payload = rest.partition(" ")
        return Action("send", payload, _parse_names(names))
    if verb in VERBS_WITH_PAYLOAD:
        return Action(verb, rest)
    raise ProtocolError(f"unknown action @{verb[:20]}")


def _parse_fork_tasks(rest: str) -> tuple[str, ...]:
    tasks = tuple(rest.split(FORK_SEPARATOR))
    if not rest or any(not task.strip() for task in tasks):
        raise ProtocolError("@fork needs one or more non-empty tasks separated by ' | '")
    return tasks


def _parse_names(text: str) -> tuple[str, ...]:
    names = tuple(text.split(","))
    for name in names:
        if not _NAME.fullmatch(name):
            raise ProtocolError(f"bad recipient name {name[:40]!r}")
    return names


def grammar(verbs: frozenset[str] | set[str]) -> str:
    """GBNF for one segment using only `verbs`: free lines, then one action line.

    It enforces syntax only; it carries no task knowledge (DESIGN.md)."""
    alternatives = []
    for verb in sorted(verbs):
        if verb in VERBS_BARE:
            alternatives.append(f'"@{verb}"')
        elif verb == "send":
            alternatives.append('"@send " name ("," name)* (" " payload)?')
        elif verb == "fork":
            alternatives.append('"@fork " task (" | " task)*')
        else:
            alternatives.append(f'"@{verb} " payload')
    return "\n".join([
        "root ::= line* action \"\\n\"",
        'line ::= ([^@\\n] [^\\n]*)? "\\n"',
        f"action ::= {' | '.join(alternatives)}",
        "name ::= [A-Za-z0-9_.#-]+",
        "payload ::= [^\\n]*",
        "task ::= [^|\\n]+",
    ]) + "\n"
