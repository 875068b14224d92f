"""The three reasoning paradigms: which primitives each allows (DESIGN.md)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paradigm:
    name: str
    title: str
    verbs: frozenset[str]


COT = Paradigm("cot", "serial chain of thought", frozenset({"answer"}))
FORK_JOIN = Paradigm("fj", "fork-join", frozenset({"fork", "join", "return", "answer"}))
MPLM = Paradigm("mplm", "message passing", frozenset({"send", "recv", "poll", "exit", "answer"}))
PARADIGMS = {p.name: p for p in (MPLM, COT, FORK_JOIN)}


def parse_paradigms(text: str) -> list[Paradigm]:
    """'mplm,cot,fj' -> paradigms; ValueError names an unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARADIGMS]
    if unknown or not names:
        raise ValueError(f"unknown paradigm {unknown[0] if unknown else text!r}: choose from "
                         + ", ".join(PARADIGMS))
    return [PARADIGMS[name] for name in names]
