"""Sudoku puzzle generator, with the fast singles checker it relies on (PySAT checks are in
sudoku_sat)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

from mplm_bench.tasks.sudoku_grid import (
    DIFFICULTIES,
    Puzzle,
    _check_size,
    _tables,
    box_shape,
    solve_singles,
)
from mplm_bench.tasks.sudoku_sat import UniquenessOracle, count_solutions

__all__ = ["generate"]

# "search" puzzles: at most this many givens removed beyond the singles puzzle (None = until
# no given can go). Proving uniqueness of sparse 25x25 grids takes the SAT solver seconds
# per removal, so 25x25 stops early; 9x9 and 16x16 go all the way (well under a second).
_SEARCH_EXTRA_LIMIT = {25: 2}


# --------------------------------------------------------------------------- fast singles checker


@dataclass(frozen=True)
class _FastTables:
    """Bit layouts for _singles_solvable: three layouts of the cells (rows, columns, boxes).

    In layout L the k-th cell of unit j (of that kind) sits at bit j*(n+1)+k; bit
    j*(n+1)+n is a guard that keeps per-unit arithmetic from spilling into the next unit.
    """

    pos: tuple[tuple[int, ...], ...]  # pos[L][cell] -> bit index
    peer: tuple[tuple[int, ...], ...]  # peer[L][cell] -> mask of the cell's peers in layout L
    cell_at: tuple[tuple[int, ...], ...]  # cell_at[L][bit] -> cell (-1 for guard bits)
    ones: int  # lowest bit of every unit
    data: int  # all n data bits of every unit
    guards: int  # the guard bit of every unit


@lru_cache(maxsize=None)
def _fast_tables(n: int) -> _FastTables:
    t = _tables(n)
    w = n + 1
    pos_l, peer_l, cell_at_l = [], [], []
    for kind in range(3):
        pos = [0] * (n * n)
        for j in range(n):
            for k, c in enumerate(t.units[kind * n + j][1]):
                pos[c] = j * w + k
        cell_at = [-1] * (n * w)
        for c, b in enumerate(pos):
            cell_at[b] = c
        pos_l.append(tuple(pos))
        peer_l.append(tuple(sum(1 << pos[p] for p in t.peers[c]) for c in range(n * n)))
        cell_at_l.append(tuple(cell_at))
    ones = sum(1 << (j * w) for j in range(n))
    return _FastTables(
        tuple(pos_l), tuple(peer_l), tuple(cell_at_l), ones, ones * ((1 << n) - 1), ones << n
    )


def _singles_solvable(n: int, cells: Sequence[int], targets: Sequence[int] = ()) -> bool:
    """Fast yes/no version of solve_singles for givens that are part of a valid full grid.

    For such givens every naked or hidden single is the true value, and more givens never
    remove a deduction, so the set of cells singles can fill does not depend on the order
    of the deductions: this agrees with solve_singles while applying all singles found in
    a round at once. Bitboards: B[L][d] has a bit set (layout L, see _FastTables) for each
    blank cell that can take digit d+1; a unit holds a hidden single for d when its n-bit
    field has exactly one bit, which is tested for all units of a layout at once.

    With `targets`, True is returned as soon as those cells are filled: right when the
    givens plus the targets' values are known to be singles-solvable (the generator's case).
    """
    ft = _fast_tables(n)
    pos, peer, cell_at = ft.pos, ft.peer, ft.cell_at
    ones, data, guards = ft.ones, ft.data, ft.guards
    filled = [0, 0, 0]
    elim = [[0] * n for _ in range(3)]
    for c, v in enumerate(cells):
        if v:
            for L in range(3):
                filled[L] |= 1 << pos[L][c]
                elim[L][v - 1] |= peer[L][c]
    B = [[(data & ~filled[L]) & ~e for e in elim[L]] for L in range(3)]
    open_ = data & ~filled[0]
    want = 0
    for c in targets:
        want |= 1 << pos[0][c]
    pos0, peer0, peer1, peer2, pos1, pos2 = pos[0], peer[0], peer[1], peer[2], pos[1], pos[2]
    while open_:
        Br = B[0]
        once = twice = 0
        for b in Br:
            twice |= once & b
            once |= b
        if once != open_:
            return False  # a blank cell without candidates
        single = once & ~twice
        found = [b & single for b in Br]  # per digit, row layout
        for L in range(3):
            at = cell_at[L]
            for d, x in enumerate(B[L]):
                if not x:
                    continue
                y = x | guards
                multi = ((y & (y - ones) & data) + data) & guards
                hid = x & ~(multi - (multi >> n))
                if not hid:
                    continue
                if L == 0:
                    found[d] |= hid
                else:
                    acc = 0
                    while hid:
                        low = hid & -hid
                        acc |= 1 << pos0[at[low.bit_length() - 1]]
                        hid ^= low
                    found[d] |= acc
        p0 = p1 = p2 = 0
        for d, s in enumerate(found):
            if not s:
                continue
            e0 = e1 = e2 = 0
            while s:
                low = s & -s
                c = cell_at[0][low.bit_length() - 1]
                e0 |= peer0[c]
                e1 |= peer1[c]
                e2 |= peer2[c]
                p0 |= low
                p1 |= 1 << pos1[c]
                p2 |= 1 << pos2[c]
                s ^= low
            B[0][d] &= ~e0
            B[1][d] &= ~e1
            B[2][d] &= ~e2
        if not p0:
            return False
        open_ &= ~p0
        if want and not open_ & want:
            return True
        k0, k1, k2 = ~p0, ~p1, ~p2
        B = [[b & k0 for b in B[0]], [b & k1 for b in B[1]], [b & k2 for b in B[2]]]
    return True


# --------------------------------------------------------------------------- generator


def _full_grid(n: int, rng: random.Random) -> list[int]:
    """A random valid full grid: the pattern grid with shuffled digits, rows, bands, columns, stacks."""
    br, bc = box_shape(n)

    def shuffled(seq) -> list[int]:
        out = list(seq)
        rng.shuffle(out)
        return out

    digits = shuffled(range(1, n + 1))
    rows = [band * br + r for band in shuffled(range(n // br)) for r in shuffled(range(br))]
    cols = [stack * bc + c for stack in shuffled(range(n // bc)) for c in shuffled(range(bc))]
    transpose = rng.random() < 0.5
    grid = [0] * (n * n)
    for i in range(n):
        for j in range(n):
            r, c = rows[i], cols[j]
            v = digits[(r * bc + r // br + c) % n]
            if transpose:
                grid[j * n + i] = v
            else:
                grid[i * n + j] = v
    return grid


def _greedy_remove(
    cells: list[int],
    order: Sequence[int],
    ok: Callable[[list[int], Sequence[int]], bool],
    quick: Callable[[list[int], int], bool] | None = None,
) -> int:
    """Blank the cells of `order` one at a time, keeping each removal while ok(cells, blanked) holds.

    ok must be monotone (true for some givens -> true for any superset of them). Then
    removing a whole chunk at once succeeds exactly when one-at-a-time removal would keep
    every cell of it, so chunks with binary back-off give the same puzzle as the one-at-a-time
    greedy with far fewer calls. quick(cells, c), if given, is a cheap sufficient test for
    blanking the single cell c. Returns the number of ok calls.
    """
    calls = 0

    def attempt(chunk: Sequence[int], known_fail: bool) -> bool:
        nonlocal calls
        if len(chunk) == 1 and not known_fail:
            c = chunk[0]
            saved = cells[c]
            cells[c] = 0
            if quick is not None and quick(cells, c):
                return True
            calls += 1
            if ok(cells, chunk):
                return True
            cells[c] = saved
            return False
        if not known_fail:
            saved = [cells[c] for c in chunk]
            for c in chunk:
                cells[c] = 0
            calls += 1
            if ok(cells, chunk):
                return True
            for c, v in zip(chunk, saved):
                cells[c] = v
        if len(chunk) == 1:
            return False
        mid = len(chunk) // 2
        first = attempt(chunk[:mid], False)
        # if the whole first half went, removing the second half now is the failed chunk
        attempt(chunk[mid:], first)
        return False

    size = max(1, len(order) // 16)
    pos = 0
    while pos < len(order):
        chunk = order[pos:pos + size]
        pos += len(chunk)
        if attempt(chunk, False):
            size *= 2
        else:
            size = max(1, size // 4)
    return calls


def _naked_single_quick(n: int) -> Callable[[list[int], int], bool]:
    pe = _tables(n).peers
    need = n - 1

    def quick(cells: list[int], c: int) -> bool:
        return len({cells[p] for p in pe[c]} - {0}) == need

    return quick


def generate(n: int, seed: int, difficulty: str = "singles") -> Puzzle:
    """A seeded puzzle with a unique solution.

    ``"singles"``: a random full grid (random.Random(seed)), then cells blanked in a seeded
    random order, each removal kept only while naked and hidden singles still solve the
    puzzle (so the result is minimal for that property, and unique).
    ``"search"`` (sizes 9, 16, 25): a unique puzzle that singles cannot finish: the singles
    puzzle, then its remaining givens tried one at a time in a seeded order, each removal kept
    while the solution stays unique (for 25x25 stopping after 2 removals, see
    _SEARCH_EXTRA_LIMIT). Since the singles puzzle is minimal for singles, any extra removal
    leaves singles stuck. If no given can go, the next sub-seed is tried.
    The id is ``f"n{n}-s{seed}-{difficulty}"``.
    """
    _check_size(n)
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be 'singles' or 'search', got {difficulty!r}")
    if difficulty == "search" and n == 4:
        raise ValueError("difficulty 'search' is not available for size 4 (no such 4x4 puzzle found)")
    pid = f"n{n}-s{seed}-{difficulty}"
    for attempt in range(100):
        rng = random.Random(seed if attempt == 0 else f"{seed}/{attempt}")
        solution = _full_grid(n, rng)
        cells = list(solution)
        order = list(range(n * n))
        rng.shuffle(order)
        _greedy_remove(cells, order, lambda g, chunk: _singles_solvable(n, g, chunk), _naked_single_quick(n))
        if difficulty == "search":
            oracle = UniquenessOracle(n, solution)
            try:
                rest = [c for c in range(n * n) if cells[c]]
                rng.shuffle(rest)
                extra = 0
                limit = _SEARCH_EXTRA_LIMIT.get(n)
                for c in rest:
                    saved, cells[c] = cells[c], 0
                    if oracle.unique(cells):
                        extra += 1
                        if limit is not None and extra >= limit:
                            break
                    else:
                        cells[c] = saved
            finally:
                oracle.close()
            if extra == 0:
                continue  # uniqueness-minimal already, so singles solve it: next sub-seed
        puzzle = Puzzle(n, tuple(cells), pid)
        if count_solutions(puzzle, 2) != 1:
            raise RuntimeError(f"generated puzzle {pid} does not have a unique solution")
        solved, _ = solve_singles(puzzle)
        if difficulty == "singles" and solved != tuple(solution):
            raise RuntimeError(f"generated puzzle {pid} is not solved by singles")
        if difficulty == "search" and solved is not None:
            raise RuntimeError(f"generated puzzle {pid} is solved by singles")
        return puzzle
    raise RuntimeError(f"no {difficulty!r} puzzle of size {n} found for seed {seed}")

