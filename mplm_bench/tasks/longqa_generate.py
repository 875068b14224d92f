"""Synthetic long-context QA in the spirit of RULER, seeded, with the answer known.

Kinds:
- needle: multi-key needle in a haystack. Several "special magic number" sentences with
  different keys; the question asks for one key's number.
- vartrack: multi-hop variable tracking. "VAR QXKZT = 48213." then "VAR ABCDE = VAR QXKZT."
  and so on for `hops` assignments; the question asks the value of the last variable.
  Distractor chains of other variables share no variable with it.
- multihop: facts across chunks. A person lives in a city, the city lies in a country,
  the country pays with a currency, the currency is printed in a town; the question needs
  the first `hops` of those facts. Distractor people, cities and countries surround them.

The facts a question needs sit in different chunks (so `hops` <= chunks). The haystack is
filler from a seeded sentence grammar (a few thousand distinct sentences), not one
repeated line; names are made from syllables so no model knows them beforehand. Length is
counted in tokens of the run's model: each chunk is filled to length/chunks tokens.
"""
from __future__ import annotations

import random
from typing import Callable

from mplm_bench.tasks.base import TaskInputError
from mplm_bench.tasks.longqa_files import Fact, QAInstance

KINDS = ("needle", "vartrack", "multihop")
MULTIHOP_MAX = 4  # relations in a multihop chain
DISTRACTORS = 4  # distractor needles or chains per instance

_ADJECTIVES = ("quiet", "old", "narrow", "bright", "heavy", "distant", "wooden", "silver",
               "patient", "crowded", "early", "gentle", "broken", "famous", "hidden", "tired")
_NOUNS = ("farmer", "river", "market", "teacher", "bridge", "garden", "sailor", "library",
          "orchard", "painter", "harbor", "village", "baker", "mountain", "train", "lantern")
_VERBS = ("watched", "crossed", "remembered", "visited", "repaired", "passed", "described",
          "followed", "painted", "ignored", "measured", "praised", "carried", "opened")
_PLACES = ("before dawn", "in the spring", "after the storm", "near the old wall",
           "during the long winter", "at the edge of town", "without a word",
           "for many years", "on a cold morning", "by the quiet road", "late in the evening")
_SYLLABLES = ("ka", "lo", "mir", "ta", "ven", "dor", "sa", "li", "bra", "nu", "tes", "or",
              "qui", "ran", "pel", "zo", "mar", "eth", "vi", "gal")
_FIRST = ("Aria", "Bruno", "Celia", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines",
          "Jonas", "Kira", "Leon", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Tomas")

# multihop relations: (sentence, question) per hop; {a} is the subject, {b} the object
_RELATIONS = (
    ("{a} lives in the city of {b}.", "In which city does {p} live?"),
    ("The city of {a} lies in the country of {b}.", "In which country does {p} live?"),
    ("The country of {a} pays with the {b}.",
     "Which currency is used in the country where {p} lives?"),
    ("The {a} is printed in the town of {b}.",
     "In which town is the currency of the country where {p} lives printed?"),
)


def _filler(rng: random.Random) -> str:
    return (f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_VERBS)} the "
            f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_PLACES)}.")


def _word(rng: random.Random, syllables: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _variable(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))


def _needle(rng: random.Random, hops: int):
    keys = {f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(100)}"
            for _ in range(DISTRACTORS + 1)}
    key, *others = sorted(keys)
    rng.shuffle(others)
    value = str(rng.randrange(1_000_000, 10_000_000))
    fact = Fact(f"The special magic number for {key} is {value}.", key)
    distractors = [f"The special magic number for {k} is {rng.randrange(1_000_000, 10_000_000)}."
                   for k in others]
    return f"What is the special magic number for {key}?", value, [fact], distractors


def _vartrack_chain(rng: random.Random, hops: int, used: set[str]):
    names = []
    while len(names) < hops:
        name = _variable(rng)
        if name not in used:
            used.add(name)
            names.append(name)
    value = str(rng.randrange(10_000, 100_000))
    # names[0] = value; names[i] = names[i-1]; the question asks names[-1]
    facts = [Fact(f"VAR {names[i]} = VAR {names[i - 1]}.", names[i], names[i - 1])
             for i in range(hops - 1, 0, -1)]
    facts.append(Fact(f"VAR {names[0]} = {value}.", names[0]))
    return names[-1], value, facts


def _vartrack(rng: random.Random, hops: int):
    used: set[str] = set()
    last, value, facts = _vartrack_chain(rng, hops, used)
    distractors = [f.sentence for _ in range(DISTRACTORS) for f in _vartrack_chain(rng, hops, used)[2]]
    return f"What is the value of VAR {last}?", value, facts, distractors


def _multihop_chain(rng: random.Random, hops: int, used: set[str]):
    entities: list[str] = []
    while not entities:
        person = f"{rng.choice(_FIRST)} {_word(rng, 2)}"
        if person not in used:
            used.add(person)
            entities.append(person)
    while len(entities) <= hops:
        name = _word(rng)
        if name not in used:
            used.add(name)
            entities.append(name)
    facts = [Fact(_RELATIONS[i][0].format(a=entities[i], b=entities[i + 1]), entities[i],
                  entities[i + 1] if i + 1 < hops else None) for i in range(hops)]
    return entities, facts


def _multihop(rng: random.Random, hops: int):
    if not 1 <= hops <= MULTIHOP_MAX:
        raise TaskInputError(f"--hops must be 1..{MULTIHOP_MAX} for multihop, got {hops}")
    used: set[str] = set()
    entities, facts = _multihop_chain(rng, hops, used)
    distractors = [f.sentence for _ in range(DISTRACTORS) for f in _multihop_chain(rng, hops, used)[1]]
    return _RELATIONS[hops - 1][1].format(p=entities[0]), entities[-1], facts, distractors


_MAKERS = {"needle": _needle, "vartrack": _vartrack, "multihop": _multihop}


def generate(kind: str, length: int, chunks: int, hops: int, seed: int,
             tokens_of: Callable[[str], int]) -> QAInstance:
    """One instance of about `length` context tokens (tokens_of counts them) in `chunks`
    chunks; the facts the question needs sit in distinct chunks."""
    if kind not in _MAKERS:
        raise TaskInputError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    hops = 1 if kind == "needle" else hops
    if hops < 1 or chunks < hops:
        raise TaskInputError(f"need 1 <= --hops <= --chunks, got hops {hops}, chunks {chunks}")
    rng = random.Random(f"longqa-{kind}-{length}-{chunks}-{hops}-{seed}")
    question, answer, facts, distractors = _MAKERS[kind](rng, hops)
    placed: list[list[str]] = [[] for _ in range(chunks)]
    for fact, chunk in zip(facts, rng.sample(range(chunks), len(facts))):
        placed[chunk].append(fact.sentence)
    for sentence in distractors:
        placed[rng.randrange(chunks)].append(sentence)
    budget = length / chunks  # tokens per chunk
    texts = [_fill(rng, special, budget, tokens_of) for special in placed]
    instance_id = f"{kind}-L{length}-k{chunks}-h{hops}-s{seed}"
    return QAInstance(instance_id, length, question, (answer,), tuple(texts), tuple(facts), kind)


def _fill(rng: random.Random, special: list[str], budget: float,
          tokens_of: Callable[[str], int]) -> str:
    """Filler sentences up to `budget` tokens with the special sentences at random places."""
    sentences, used = [], sum(tokens_of(" " + s) for s in special)
    while True:
        sentence = _filler(rng)
        size = tokens_of(" " + sentence)
        if used + size / 2 > budget:  # stop at the sentence boundary nearest the budget
            break
        sentences.append(sentence)
        used += size
    for sentence in special:
        sentences.insert(rng.randrange(len(sentences) + 1), sentence)
    return " ".join(sentences)
