"""Long-context QA scoring: exact match and token F1 with SQuAD's answer normalization
(lowercase, no punctuation, no articles a/an/the, single spaces), best over gold answers."""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize(prediction).split(), normalize(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_scores(prediction: str | None, answers: Sequence[str]) -> dict[str, float]:
    """{"em": ..., "f1": ...}: the best over the gold answers; no answer scores 0."""
    if prediction is None or not answers:
        return {"em": 0.0, "f1": 0.0}
    return {"em": max(exact_match(prediction, gold) for gold in answers),
            "f1": round(max(token_f1(prediction, gold) for gold in answers), 4)}
