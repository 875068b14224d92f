"""3-SAT: instances, prompts per paradigm, verifier and metrics.

Thread layouts (all search with the DPLL text of sat_oracle.py):
- CoT: one thread `main` with the whole formula writes one DPLL trace and answers.
- FJ: a root `main` forks a child per assignment of the k split variables (the k most
  frequent ones), each a KV copy with its assumptions as the task; every child returns a
  model or UNSAT; the root joins all 2^k before it answers.
- MPLM: 2^k branch threads `b0..` (formula + assumptions) and a coordinator `coord`. A
  branch polls after every DPLL chunk; one that finds a model sends it to its peers and
  the coordinator, and peers that get it exit (preemption); an exhausted branch tells the
  coordinator UNSAT. The coordinator answers the model, or UNSAT after 2^k UNSATs.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mplm_bench.paradigms import COT, FORK_JOIN, MPLM, Paradigm
from mplm_bench.runtime.records import RunOutcome
from mplm_bench.runtime.thread import ThreadSpec
from mplm_bench.tasks import sat_generate
from mplm_bench.tasks import sat_oracle as oracle
from mplm_bench.tasks.base import RunSetup, TaskInputError, TokensAfter, single_answer
from mplm_bench.tasks.sat_cnf import Formula, cnf_files, read_cnf, satisfies, write_cnf

ROOT = "main"
COORDINATOR = "coord"
MAX_SPLIT = 6  # 2^6 = 64 branches
_MODEL = re.compile(r"\bSAT((?: -?\d+)+)")


@dataclass
class SatInstance:
    id: str
    size: int  # variables
    formula: Formula
    satisfiable: bool | None = field(default=None, repr=False)  # PySAT's word, once asked

    def is_satisfiable(self) -> bool:
        if self.satisfiable is None:
            self.satisfiable = sat_generate.is_satisfiable(self.formula)
        return self.satisfiable


def parse_model(text: str, num_vars: int) -> set[int] | None:
    """'SAT 1 -2 5' -> {1, -2, 5}; None unless every literal is in range and consistent."""
    words = text.split()
    if not words or words[0] != "SAT":
        return None
    try:
        literals = {int(word) for word in words[1:]}
    except ValueError:
        return None
    if any(not 0 < abs(lit) <= num_vars or -lit in literals for lit in literals):
        return None
    return literals


def check_answer(instance: SatInstance, answer: str) -> bool:
    """A model must satisfy every clause; UNSAT must agree with PySAT."""
    answer = answer.strip()
    if answer == oracle.UNSAT:
        return not instance.is_satisfiable()
    model = parse_model(answer, instance.formula.num_vars)
    return model is not None and satisfies(instance.formula, model)


def states_a_model(formula: Formula, text: str) -> bool:
    """The segment names a model (a send, return or answer payload) that checks out."""
    for match in _MODEL.finditer(text):
        model = parse_model("SAT" + match.group(1), formula.num_vars)
        if model is not None and satisfies(formula, model):
            return True
    return False


class SatMetrics:
    """tokens_after_solution (tokens decoded after the first segment that states a valid
    model); stopped_searches (preempted threads that had sent nothing: the row's
    `preempted` also counts a finder whose peer's model crossed its own); the DPLL
    decisions and conflicts written in completed segments, all threads."""

    def __init__(self, formula: Formula):
        self.after = TokensAfter(lambda text: states_a_model(formula, text))
        self.senders: set[int] = set()  # thread ids that sent a message
        self.decisions = 0
        self.conflicts = 0

    def on_segment(self, thread, text: str, tokens: int, tick: int) -> None:
        self.after.on_segment(thread, text, tokens, tick)
        for line in text.splitlines():
            self.decisions += line.startswith("decide ")
            self.conflicts += line.startswith("conflict ")
            if line.startswith("@send "):
                self.senders.add(thread.id)

    def metrics(self, outcome: RunOutcome, answer: str | None) -> dict[str, float]:
        stopped = sum(t.preempted and t.id not in self.senders for t in outcome.threads)
        return {"tokens_after_solution": self.after.tokens, "stopped_searches": stopped,
                "decisions": self.decisions, "conflicts": self.conflicts}


# ---- prompts ------------------------------------------------------------------------------
def formula_text(formula: Formula) -> str:
    return (f"3-SAT over x1..x{formula.num_vars}, {len(formula.clauses)} clauses; literal 3 "
            "means x3=T, -3 means x3=F; a clause holds when one of its literals does.\n"
            + "".join(f"c{k}: {' '.join(map(str, clause))}\n"
                      for k, clause in enumerate(formula.clauses, 1)))


DPLL_RULES = ("Search with DPLL, a line a step: 'decide x3=T', 'x5=F by c17' (c17 forces it), "
              "'conflict c12' (c12 all false), 'backtrack x3=F' (undo to the last untried "
              "decision, take its other value).\n")
RESULT_FORM = "SAT <literals of the assignment, e.g. 1 -2 5> or UNSAT"


def cot_prompt(formula: Formula) -> str:
    return formula_text(formula) + DPLL_RULES + f"Then: @answer {RESULT_FORM}\n"


def fork_join_prompt(formula: Formula, tasks: tuple[str, ...]) -> str:
    return (formula_text(formula) + DPLL_RULES
            + f"Split: @fork {' | '.join(tasks)}\n"
            + f"A child searches under its assumptions and ends with @return {RESULT_FORM}. "
            + "Then @join; when all results are in: @answer with a child's SAT, else UNSAT.\n")


def branch_prompt(formula: Formula, name: str, assumptions: tuple[int, ...],
                  peers: tuple[str, ...]) -> str:
    targets = ",".join(peers + (COORDINATOR,))
    return (formula_text(formula) + DPLL_RULES
            + f"You are {name}: search under {oracle.assumption_text(assumptions)}. "
            + "End each decide or backtrack (with its propagations) with @poll. "
            + "If a peer's SAT arrives: @exit. "
            + f"Found a model: @send {targets} SAT <literals>, then @exit. "
            + f"Nothing left to try: @send {COORDINATOR} UNSAT, then @exit.\n")


def coordinator_prompt(names: tuple[str, ...], split: tuple[int, ...]) -> str:
    return (f"You coordinate {len(names)} SAT search branches {' '.join(names)}, one per "
            f"assignment of {' '.join(f'x{v}' for v in split)}. @recv until one sends "
            f"SAT <literals>: @answer it. When all {len(names)} sent UNSAT: @answer UNSAT.\n")


def split_variables(formula: Formula, k: int) -> tuple[int, ...]:
    """The k most frequent variables (ties: the lower index)."""
    counts = Counter(abs(lit) for clause in formula.clauses for lit in clause)
    ranked = sorted(range(1, formula.num_vars + 1), key=lambda v: (-counts[v], v))
    return tuple(ranked[:k])


def branch_assumptions(split: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every assignment of the split variables, T before F: (3, 7), (3, -7), (-3, 7), ..."""
    k = len(split)
    return [tuple(v if not (index >> (k - 1 - j)) & 1 else -v for j, v in enumerate(split))
            for index in range(2 ** k)]


# ---- the task ------------------------------------------------------------------------------
class SatTask:
    name = "sat"

    def __init__(self, split: int = 2):
        if not 1 <= split <= MAX_SPLIT:
            raise TaskInputError(f"--split must be 1..{MAX_SPLIT}, got {split}")
        self.split = split

    def instances(self, num_vars: int, count: int, seed: int,
                  ratio: float = sat_generate.DEFAULT_RATIO, satisfiable: str = "any",
                  path: Path | None = None, save: Path | None = None) -> list[SatInstance]:
        """`count` formulas from a .cnf file or folder (those matching the filter), or
        generated: instance k draws with seed + k; `save` writes them as .cnf files."""
        if path is not None:
            found = self._from_files(path, count, satisfiable)
        else:
            found = []
            for k in range(count):
                drawn = sat_generate.draw(num_vars, ratio, seed + k, satisfiable)
                known = None if satisfiable == "any" else satisfiable == "yes"
                found.append(SatInstance(f"v{num_vars}-r{ratio:g}-s{seed + k}.{drawn.attempt}",
                                         num_vars, drawn.formula, known))
        for instance in found:
            if instance.size < self.split:
                raise TaskInputError(f"{instance.id}: --split {self.split} needs at least "
                                     f"{self.split} variables")
            if save is not None:
                Path(save).mkdir(parents=True, exist_ok=True)
                write_cnf(Path(save) / f"{instance.id}.cnf", instance.formula, (instance.id,))
        return found

    def _from_files(self, path: Path, count: int, satisfiable: str) -> list[SatInstance]:
        if satisfiable not in sat_generate.FILTERS:
            raise TaskInputError(f"--satisfiable must be one of {', '.join(sat_generate.FILTERS)}")
        found = []
        for file in cnf_files(path):
            formula = read_cnf(file)
            if len(found) < count and sat_generate.matches(formula, satisfiable):
                found.append(SatInstance(file.stem, formula.num_vars, formula))
        return found

    def setup(self, instance: SatInstance, paradigm: Paradigm) -> RunSetup:
        builders = {COT.name: self._cot, FORK_JOIN.name: self._fork_join, MPLM.name: self._mplm}
        setup = builders[paradigm.name](instance)
        metrics = SatMetrics(instance.formula)
        setup.on_segment, setup.task_metrics = metrics.on_segment, metrics.metrics
        return setup

    def _check(self, instance: SatInstance):
        return lambda answer: check_answer(instance, answer)

    def _cot(self, instance: SatInstance) -> RunSetup:
        formula = instance.formula
        spec = ThreadSpec(ROOT, "main", cot_prompt(formula))
        return RunSetup([spec], lambda: {ROOT: oracle.CotProgram(formula)},
                        single_answer(ROOT), self._check(instance))

    def _fork_join(self, instance: SatInstance) -> RunSetup:
        formula = instance.formula
        split = split_variables(formula, self.split)
        tasks = tuple(oracle.assumption_text(a) for a in branch_assumptions(split))
        spec = ThreadSpec(ROOT, "main", fork_join_prompt(formula, tasks))
        return RunSetup([spec], lambda: {ROOT: oracle.ForkJoinRoot(formula, tasks)},
                        single_answer(ROOT), self._check(instance))

    def _mplm(self, instance: SatInstance) -> RunSetup:
        formula = instance.formula
        split = split_variables(formula, self.split)
        branches = branch_assumptions(split)
        names = tuple(f"b{k}" for k in range(len(branches)))

        def peers(name: str) -> tuple[str, ...]:
            return tuple(other for other in names if other != name)

        specs = [ThreadSpec(name, "branch", branch_prompt(formula, name, a, peers(name)))
                 for name, a in zip(names, branches)]
        specs.append(ThreadSpec(COORDINATOR, "coordinator", coordinator_prompt(names, split)))

        def programs() -> dict:
            found = {name: oracle.BranchProgram(formula, a, peers(name), COORDINATOR)
                     for name, a in zip(names, branches)}
            found[COORDINATOR] = oracle.CoordinatorProgram(len(names))
            return found

        return RunSetup(specs, programs, single_answer(COORDINATOR), self._check(instance))
