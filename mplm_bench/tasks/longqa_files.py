"""Long-context QA records: the instance type, sentence chunking, and the JSONL loader.

JSONL file format (the LongBench layout), one JSON object per line:

* ``context`` (string): the long document;
* ``input`` or ``question`` (string): the question;
* ``answers`` (list of strings, at least one): the gold answers;
* ``supporting_facts`` (optional, list of strings): sentences of the context the answer
  rests on (HotpotQA-style); other entries (e.g. ``[title, sentence id]`` pairs) are
  ignored. Without them, the first sentence holding a gold answer stands in.
* ``_id`` or ``id`` (optional): the instance id; default ``<file name>:<line number>``.

Blank lines are skipped. Bad JSON or a missing field is an error naming the file and line.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from mplm_bench.tasks.base import TaskInputError

CHUNK_TOKENS = 1000  # default chunk size when --chunks is not given, tokens
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Fact:
    """A sentence the answer rests on. In a chain, `about` is what the sentence tells of and
    `leads_to` the thing the next fact is about (None: the chain ends, or facts stand alone)."""

    sentence: str
    about: str | None = None
    leads_to: str | None = None


@dataclass(frozen=True)
class QAInstance:
    id: str
    size: int  # context length, tokens of the run's model
    question: str
    answers: tuple[str, ...]
    chunks: tuple[str, ...]  # the context split on sentence boundaries, in order
    facts: tuple[Fact, ...]  # in chain order (the question's subject first)
    kind: str  # needle, vartrack, multihop, or file

    @property
    def context(self) -> str:
        return " ".join(self.chunks)


def split_sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text) if part.strip()]


def pack_chunks(sentences: Sequence[str], count: int, tokens_of: Callable[[str], int]) -> list[str]:
    """`count` chunks of consecutive sentences with about equal token counts (fewer when
    there are fewer sentences)."""
    sizes = [tokens_of(" " + s) for s in sentences]
    target = sum(sizes) / max(1, count)  # tokens per chunk
    chunks, current, filled = [], [], 0
    for sentence, size in zip(sentences, sizes):
        current.append(sentence)
        filled += size
        if filled >= target * (len(chunks) + 1) and len(chunks) < count - 1:
            chunks.append(" ".join(current))
            current = []
    if current:
        chunks.append(" ".join(current))
    return chunks


def default_chunks(length: int) -> int:
    return max(2, math.ceil(length / CHUNK_TOKENS))


@dataclass(frozen=True)
class QARecord:
    id: str
    context: str
    question: str
    answers: tuple[str, ...]
    supporting_facts: tuple[str, ...]


def read_records(path: Path) -> list[QARecord]:
    """The records of a JSONL file; TaskInputError names the file and line of a bad one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TaskInputError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            records.append(_record(line, f"{path}:{number}", f"{Path(path).name}:{number}"))
    if not records:
        raise TaskInputError(f"{path}: no records")
    return records


def _record(line: str, where: str, default_id: str) -> QARecord:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise TaskInputError(f"{where}: bad JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(data, dict):
        raise TaskInputError(f"{where}: expected a JSON object")
    question = data.get("input") or data.get("question")
    context, answers = data.get("context"), data.get("answers")
    if not isinstance(context, str) or not context.strip():
        raise TaskInputError(f"{where}: missing field 'context' (a non-empty string)")
    if not isinstance(question, str) or not question.strip():
        raise TaskInputError(f"{where}: missing field 'input' or 'question' (a string)")
    if (not isinstance(answers, list) or not answers
            or not all(isinstance(a, str) for a in answers)):
        raise TaskInputError(f"{where}: missing field 'answers' (a non-empty list of strings)")
    facts = tuple(f for f in data.get("supporting_facts") or () if isinstance(f, str))
    return QARecord(str(data.get("_id", data.get("id", default_id))), context, question,
                    tuple(answers), facts)


def to_instance(record: QARecord, chunks: int | None, tokens_of: Callable[[str], int]) -> QAInstance:
    """A loaded record chunked for the run's model (chunks None: one per CHUNK_TOKENS)."""
    sentences = split_sentences(record.context)
    size = tokens_of(record.context)
    parts = pack_chunks(sentences, chunks or default_chunks(size), tokens_of)
    facts = [s for s in record.supporting_facts if s in record.context]
    if not facts:  # the first sentence holding a gold answer stands in
        facts = [next(s for s in sentences if any(a in s for a in record.answers))] if any(
            a in record.context for a in record.answers) else []
    return QAInstance(record.id, size, record.question, record.answers, tuple(parts),
                      tuple(Fact(f) for f in facts), "file")
