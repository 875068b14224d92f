"""CNF formulas and DIMACS files (SATLIB's format), read strictly and written plainly.

A DIMACS file: comment lines starting with `c`, one header `p cnf <vars> <clauses>`, then
clauses as integers (a literal `v` or `-v`, 1 <= v <= vars), each clause ended by `0`; a
clause may span lines and a line may hold several. SATLIB's uniform files (uf20-91,
uf50-218, ...) end with a line `%` and a line `0`: everything from `%` on is ignored.

Errors name the file and line: a missing or malformed header, a non-integer, a literal out
of range, an empty clause, a last clause without its `0`, a clause count other than the
header's. (PySAT's reader skips what it does not understand, and says nothing of lines.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mplm_bench.tasks.base import TaskInputError

Clause = tuple[int, ...]


@dataclass(frozen=True)
class Formula:
    num_vars: int
    clauses: tuple[Clause, ...]


class CnfFormatError(TaskInputError):
    """A malformed DIMACS file: `path:line: reason`, exit 2."""


def satisfies(formula: Formula, literals: set[int]) -> bool:
    """Every clause holds a literal of the (possibly partial) assignment `literals`."""
    return all(any(lit in literals for lit in clause) for clause in formula.clauses)


def parse_cnf(text: str, source: str = "<text>") -> Formula:
    header: tuple[int, int] | None = None
    clauses: list[Clause] = []
    current: list[int] = []
    current_line = 0  # line where the clause being read started
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("c"):
            continue
        if stripped.startswith("%"):  # SATLIB: the end of the clauses
            break
        where = f"{source}:{number}"
        if stripped.startswith("p"):
            if header is not None:
                raise CnfFormatError(f"{where}: a second 'p cnf' header")
            header = _header(stripped, where)
            continue
        if header is None:
            raise CnfFormatError(f"{where}: clause before the 'p cnf <vars> <clauses>' header")
        for field in stripped.split():
            try:
                literal = int(field)
            except ValueError:
                raise CnfFormatError(f"{where}: {field[:20]!r} is not an integer") from None
            if literal == 0:
                if not current:
                    raise CnfFormatError(f"{where}: empty clause")
                clauses.append(tuple(current))
                current = []
            elif abs(literal) > header[0]:
                raise CnfFormatError(f"{where}: literal {literal} out of range 1..{header[0]}")
            else:
                if not current:
                    current_line = number
                current.append(literal)
    if header is None:
        raise CnfFormatError(f"{source}: no 'p cnf <vars> <clauses>' header")
    if current:
        raise CnfFormatError(f"{source}:{current_line}: last clause does not end with 0")
    if len(clauses) != header[1]:
        raise CnfFormatError(f"{source}: header says {header[1]} clauses, found {len(clauses)}")
    return Formula(header[0], tuple(clauses))


def _header(line: str, where: str) -> tuple[int, int]:
    fields = line.split()
    if len(fields) != 4 or fields[:2] != ["p", "cnf"]:
        raise CnfFormatError(f"{where}: header must be 'p cnf <vars> <clauses>', got {line[:40]!r}")
    try:
        num_vars, num_clauses = int(fields[2]), int(fields[3])
    except ValueError:
        raise CnfFormatError(f"{where}: header counts must be integers, got {line[:40]!r}") from None
    if num_vars < 1 or num_clauses < 1:
        raise CnfFormatError(f"{where}: header counts must be positive, got {line[:40]!r}")
    return num_vars, num_clauses


def read_cnf(path: Path) -> Formula:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CnfFormatError(f"cannot read CNF file {path}: {getattr(error, 'strerror', None) or error}") from None
    return parse_cnf(text, str(path))


def cnf_files(path: Path) -> list[Path]:
    """A .cnf file, or the .cnf files of a folder in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.cnf"))
        if not files:
            raise CnfFormatError(f"no .cnf files in {path}")
        return files
    if not path.exists():
        raise CnfFormatError(f"CNF file not found: {path}")
    return [path]


def format_cnf(formula: Formula, comments: tuple[str, ...] = ()) -> str:
    lines = [f"c {comment}" for comment in comments]
    lines.append(f"p cnf {formula.num_vars} {len(formula.clauses)}")
    lines += [" ".join(map(str, clause)) + " 0" for clause in formula.clauses]
    return "\n".join(lines) + "\n"


def write_cnf(path: Path, formula: Formula, comments: tuple[str, ...] = ()) -> None:
    Path(path).write_text(format_cnf(formula, comments), encoding="utf-8")
