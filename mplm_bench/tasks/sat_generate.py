"""Uniform random 3-SAT in SATLIB's style, and PySAT's word on satisfiability.

A formula over n variables has m = round(r * n) clauses; each clause takes 3 distinct
variables uniformly at random and a random sign for each, and no clause repeats (so none
is tautological or a duplicate). Instance (seed, attempt) is drawn from its own seeded
generator; the `satisfiable` filter takes attempts 0, 1, 2, ... until PySAT agrees.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from math import comb

from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.sat_cnf import Formula

DEFAULT_RATIO = 4.26  # the satisfiability threshold of random 3-SAT: the hardest instances
FILTERS = ("yes", "no", "any")
MAX_ATTEMPTS = 1000  # draws per instance before the filter gives up


@dataclass(frozen=True)
class Drawn:
    formula: Formula
    attempt: int  # sub-seed that passed the filter


def random_3sat(num_vars: int, ratio: float, seed: int, attempt: int = 0) -> Formula:
    num_clauses = round(ratio * num_vars)
    check_shape(num_vars, ratio)
    rng = random.Random(f"3sat-{num_vars}-{num_clauses}-{seed}-{attempt}")
    seen: set[frozenset[int]] = set()
    clauses = []
    while len(clauses) < num_clauses:
        variables = rng.sample(range(1, num_vars + 1), 3)
        clause = tuple(v if rng.random() < 0.5 else -v for v in variables)
        if frozenset(clause) not in seen:
            seen.add(frozenset(clause))
            clauses.append(clause)
    return Formula(num_vars, tuple(clauses))


def check_shape(num_vars: int, ratio: float) -> None:
    if num_vars < 3:
        raise TaskInputError(f"--vars must be at least 3, got {num_vars}")
    if not ratio > 0:
        raise TaskInputError(f"--ratio must be positive, got {ratio}")
    if round(ratio * num_vars) > 8 * comb(num_vars, 3):
        raise TaskInputError(f"--ratio {ratio} asks for more distinct 3-clauses than {num_vars} "
                             "variables have")


def is_satisfiable(formula: Formula) -> bool:
    from pysat.solvers import Solver

    with Solver(name="cadical195", bootstrap_with=[list(c) for c in formula.clauses]) as solver:
        return bool(solver.solve())


def matches(formula: Formula, satisfiable: str) -> bool:
    return satisfiable == "any" or is_satisfiable(formula) == (satisfiable == "yes")


def draw(num_vars: int, ratio: float, seed: int, satisfiable: str = "any") -> Drawn:
    """The first attempt of `seed` whose satisfiability matches the filter."""
    if satisfiable not in FILTERS:
        raise TaskInputError(f"--satisfiable must be one of {', '.join(FILTERS)}, got {satisfiable!r}")
    for attempt in range(MAX_ATTEMPTS):
        formula = random_3sat(num_vars, ratio, seed, attempt)
        if matches(formula, satisfiable):
            return Drawn(formula, attempt)
    raise TaskInputError(f"no {'satisfiable' if satisfiable == 'yes' else 'unsatisfiable'} "
                         f"formula in {MAX_ATTEMPTS} draws at --vars {num_vars} --ratio {ratio}")
