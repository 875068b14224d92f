"""The results folder: run.json (config and versions) and results.jsonl, one row per line,
appended and flushed as each row finishes so an interrupted run loses nothing."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from mplm_bench import __version__
from mplm_bench.metrics import SCHEMA_VERSION, ResultRow

RUN_FILE = "run.json"
ROWS_FILE = "results.jsonl"
TRACES_DIR = "traces"


class ResultsError(Exception):
    """The output folder cannot be used (unwritable, or a results file is corrupt)."""


def new_run_id(task: str) -> str:
    return f"{task}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def prepare_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ResultsError(f"cannot write to output folder {out}: {error.strerror or error}") from None
    return out


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
        return done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_run_record(out: Path, config: dict, model: dict | None) -> None:
    record = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "config": config,
        "seed": config.get("seed"),
        "model": model,
        "versions": {
            "mplm_bench": __version__,
            "llama_cpp_python": _version("llama-cpp-python"),
            "python": platform.python_version(),
        },
        "platform": platform.platform(),
        "git_commit": _git_commit(),
    }
    (out / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Objects of a JSONL file; a torn last line (a run killed mid-write) is dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ResultsError(f"cannot read {path}: {error.strerror or error}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the run was killed mid-write
            raise ResultsError(f"{path}:{number}: not a JSON line") from None
    return records


def read_rows(out: Path) -> list[dict]:
    """Rows already written (none if the folder has no results yet)."""
    path = out / ROWS_FILE
    return read_jsonl(path) if path.exists() else []


def truncate_torn_tail(out: Path) -> None:
    """Rewrite results.jsonl without a torn last line, so appends start on a fresh line."""
    path = out / ROWS_FILE
    if path.exists():
        rows = read_rows(out)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))


class RowWriter:
    def __init__(self, out: Path):
        self.handle = (out / ROWS_FILE).open("a", encoding="utf-8")

    def write(self, row: ResultRow) -> None:
        self.handle.write(json.dumps(row.to_dict()) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def trace_path(out: Path, instance_id: str, paradigm: str) -> Path:
    safe = instance_id.replace("/", "_").replace(":", "_")
    return out / TRACES_DIR / f"{safe}-{paradigm}.jsonl"


def write_trace(out: Path, row: ResultRow, events: list[dict]) -> Path:
    """traces/<instance>-<paradigm>.jsonl: a header line, then one event per line."""
    path = trace_path(out, row.instance_id, row.paradigm)
    path.parent.mkdir(exist_ok=True)
    header = {"kind": "header", "schema_version": SCHEMA_VERSION, "task": row.task,
              "size": row.size, "instance_id": row.instance_id, "paradigm": row.paradigm,
              "policy": row.policy, "status": row.status}
    with path.open("w", encoding="utf-8") as handle:
        for record in [header, *events]:
            handle.write(json.dumps(record) + "\n")
    return path


def read_trace(path: Path) -> tuple[dict, list[dict]]:
    """(header, events) of one trace file."""
    records = read_jsonl(Path(path))
    if not records or records[0].get("kind") != "header":
        raise ResultsError(f"{path}: first line is not a trace header")
    header = records[0]
    if header.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path}: trace schema_version {header.get('schema_version')!r}, "
                           f"this reader knows {SCHEMA_VERSION}")
    return header, records[1:]


def read_json_object(path: Path, required: bool) -> dict:
    """A JSON object file (run.json, a baseline); absent and not required gives {}."""
    if not path.exists():
        if required:
            raise ResultsError(f"no such file {path}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ResultsError(f"cannot read {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return data


def read_run_folder(path: Path) -> tuple[list[dict], dict]:
    """Rows and run.json of a results folder; a missing folder or no rows is bad input.
    run.json is optional: rows alone still tabulate and compare."""
    if not path.is_dir():
        raise ResultsError(f"no such run folder: {path}")
    if not (path / ROWS_FILE).is_file():
        raise ResultsError(f"no {ROWS_FILE} in {path}")
    rows = read_rows(path)
    if not rows:
        raise ResultsError(f"{path / ROWS_FILE} holds no rows")
    return rows, read_json_object(path / RUN_FILE, required=False)
