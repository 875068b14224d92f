"""A SentencePiece-type ("llama") vocabulary for llama.cpp: control tokens, the 256 byte
tokens, every printable ASCII character, and a few hundred whole pieces (protocol verbs,
Sudoku names like r12 / c3 / b7, numbers after a space, the prompts' words).

llama.cpp's SPM tokenizer starts from single characters and keeps merging the adjacent
pair whose concatenation is a token with the highest score. Every prefix of every piece is
in the vocabulary and a longer piece scores higher, so each piece is reachable by merges.
A space is written "▁"; no piece holds a newline, so a context cut at line ends tokenizes
the same as its parts (segments always end with a newline)."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from mplm_bench.runtime import protocol

SPACE = "\u2581"  # "▁": how SentencePiece writes a space
CONTROL = ("<unk>", "<s>", "</s>")  # ids 0, 1, 2
UNK, BOS, EOS = 0, 1, 2
NORMAL, UNKNOWN, CONTROL_TYPE, BYTE = 1, 2, 3, 6  # gguf token types
_WORD = re.compile(r"[A-Za-z]{2,}")
MAX_NUMBER = 25  # names and numbers up to the largest Sudoku side


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]
    scores: list[float]
    types: list[int]

    def __len__(self) -> int:
        return len(self.tokens)


def protocol_pieces() -> list[str]:
    """Verbs, the insert mark, unit and cell name parts, numbers after a space, and a digit
    after `#`, `!` or `=`."""
    pieces = [protocol.ACTION_MARK + verb for verb in sorted(protocol.VERBS)]
    pieces.append(protocol.INSERT_MARK.strip())
    for k in range(1, MAX_NUMBER + 1):
        pieces += [f"r{k}", f"c{k}", f"b{k}", f"{SPACE}r{k}", f"{SPACE}c{k}", f"{SPACE}b{k}", f"{SPACE}{k}"]
        # a digit in a name or a fact (`r1c1#15`, `r1c1!15`, `r1c1=15`) is one token too, so
        # a two-digit digit is copied whole, not as two characters
        pieces += [f"#{k}", f"!{k}", f"={k}"]
    return pieces


def text_words(texts: Iterable[str], min_count: int = 2, limit: int = 400) -> list[str]:
    """The most frequent words of two or more letters, bare and after a space."""
    counts = Counter(word for text in texts for word in _WORD.findall(text))
    common = [word for word, count in counts.most_common(limit) if count >= min_count]
    return sorted(common) + sorted(SPACE + word for word in common)


def build_vocabulary(pieces: Iterable[str]) -> Vocabulary:
    chars = [SPACE] + [chr(code) for code in range(0x21, 0x7F)]
    prefixes = set()
    for piece in pieces:
        if "\n" in piece or " " in piece:
            raise ValueError(f"vocabulary piece {piece!r} holds a space or newline")
        prefixes.update(piece[:end] for end in range(2, len(piece) + 1))  # prefix-closed
    whole = sorted(prefixes)
    tokens = list(CONTROL) + [f"<0x{b:02X}>" for b in range(256)] + chars + whole
    types = [UNKNOWN, CONTROL_TYPE, CONTROL_TYPE] + [BYTE] * 256 + [NORMAL] * (len(chars) + len(whole))
    scores = [0.0] * (3 + 256 + len(chars)) + [float(len(t)) for t in whole]
    return Vocabulary(tokens, scores, types)
