"""What a task hands the runtime for one instance under one paradigm."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from mplm_bench.paradigms import Paradigm
from mplm_bench.policies.oracle import ThreadProgram
from mplm_bench.runtime.thread import ThreadSpec


class Instance(Protocol):
    id: str
    size: int


@dataclass
class RunSetup:
    specs: list[ThreadSpec]  # the threads that start the run
    programs: Callable[[], dict[str, ThreadProgram]]  # oracle programs for those threads
    answer_from: Callable[[dict[str, str]], str | None]  # threads' answers -> the run's answer
    check: Callable[[str], bool]  # the task's verifier; never the model's word


class Task(Protocol):
    name: str

    def setup(self, instance: Instance, paradigm: Paradigm) -> RunSetup: ...


def single_answer(thread_name: str) -> Callable[[dict[str, str]], str | None]:
    """For paradigms whose one root thread answers for the run (CoT, fork-join)."""
    return lambda answers: answers.get(thread_name)


class TaskInputError(ValueError):
    """Bad task input from the user (a size, a file): reported as one line, exit 2."""


def check_choice(value: int, allowed: Sequence[int], what: str) -> int:
    if value not in allowed:
        raise TaskInputError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value}")
    return value
