"""The language-independent world: typed concepts, names, adjectives, verbs, relations and topics.

Everything here is generated from the seed alone (through `subseed`, never Python's `hash()`), so every
language realises the same world. Words are identified by integer *keys*; a language maps each key to
a spelling (or to nothing, e.g. articles in `sov`). Keys are laid out as: function words, anchors
(punctuation, numbers), name words, then content lexemes.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from dataclasses import dataclass

from xscale.synth.config import SynthConfig

ENTITY_TYPES: tuple[str, ...] = ("person", "animal", "food", "artifact", "place", "organisation")
NAMED_TYPES: tuple[str, ...] = ("person", "organisation", "place")
NER_OF_TYPE = {"person": "PER", "organisation": "ORG", "place": "LOC"}

FUNCTION_WORDS: tuple[tuple[str, str], ...] = (
    ("the", "DET"), ("a", "DET"), ("not", "PART"), ("is", "AUX"), ("did", "AUX"),
    ("and", "CCONJ"), ("because", "SCONJ"), ("while", "SCONJ"), ("in", "ADP"), ("then", "ADV"),
    ("who", "PRON"), ("what", "PRON"), ("where", "ADV"), ("when", "ADV"),
    ("he", "PRON"), ("she", "PRON"), ("it", "PRON"), ("oh", "INTJ"), ("well", "INTJ"),
    ("q", "PART"), ("nom", "ADP"), ("acc", "ADP"),
)
"""Function words by English gloss and UPOS; `q` and `acc` exist only in some languages, `nom` (the subject
role) in none."""

FW: dict[str, int] = {gloss: i for i, (gloss, _) in enumerate(FUNCTION_WORDS)}
PUNCTUATION: tuple[tuple[str, str], ...] = ((".", "PUNCT"), ("?", "PUNCT"), (",", "PUNCT"), ("&", "SYM"))
QUANTITIES = tuple(range(2, 10))
YEARS = tuple(range(1950, 2030))

K_PERIOD = len(FUNCTION_WORDS)
K_QMARK, K_COMMA, K_AMP = K_PERIOD + 1, K_PERIOD + 2, K_PERIOD + 3
K_NUM0 = K_PERIOD + len(PUNCTUATION)
"""Key of the first number; quantities come first, then years."""
K_NAME0 = K_NUM0 + len(QUANTITIES) + len(YEARS)


def quantity_key(n: int) -> int:
    return K_NUM0 + n - QUANTITIES[0]


def year_key(year: int) -> int:
    return K_NUM0 + len(QUANTITIES) + year - YEARS[0]


def subseed(*parts: object) -> int:
    """A 64-bit seed derived from `parts` with sha256, stable across processes and Python versions."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def rng_for(*parts: object) -> random.Random:
    return random.Random(subseed(*parts))


@dataclass(frozen=True)
class Noun:
    """A node of the noun taxonomy: a type word (level 0), a category (1) or a concept (2)."""

    id: int
    type: str
    level: int
    parent: int
    children: tuple[int, ...]
    keys: tuple[int, ...]
    topic: int
    weight: float


@dataclass(frozen=True)
class Entity:
    """A named person, organisation or place; `parts` are the keys of its name words in order."""

    id: int
    type: str
    parts: tuple[int, ...]
    pronoun: int
    topic: int
    weight: float


@dataclass(frozen=True)
class Adjective:
    """An adjective meaning; `antonym` is another meaning's id; polarity is +1, -1 or 0."""

    id: int
    keys: tuple[int, ...]
    antonym: int
    polarity: int
    types: frozenset[str]


@dataclass(frozen=True)
class Verb:
    """A verb meaning with selectional restrictions (`obj` is None for intransitive verbs)."""

    id: int
    keys: tuple[int, ...]
    subj: str
    obj: str | None
    polarity: int
    antonym: int
    successor: int
    topic: int
    weight: float


@dataclass(frozen=True)
class Table:
    """Items with cumulative weights, for fast weighted sampling with `rng.random()`."""

    items: tuple[int, ...]
    cum: tuple[float, ...]

    def sample(self, rng: random.Random) -> int:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


@dataclass(frozen=True)
class World:
    """The generated world; see the module docstring for the key layout."""

    n_topics: int
    key_kind: tuple[str, ...]
    key_upos: tuple[str, ...]
    key_gloss: tuple[str, ...]
    nouns: tuple[Noun, ...]
    entities: tuple[Entity, ...]
    adjectives: tuple[Adjective, ...]
    verbs: tuple[Verb, ...]
    adverbs: tuple[int, ...]
    shared_names: frozenset[int]
    noun_of_key: dict[int, int]
    adj_of_key: dict[int, int]
    verb_of_key: dict[int, int]
    concept_tables: dict[tuple[str, int], Table]
    entity_tables: dict[tuple[str, int], Table]
    verb_tables: dict[tuple[str, int], Table]
    frame_verbs: dict[tuple[str, str | None], tuple[int, ...]]
    """Verb ids by (subject type, object type)."""
    adj_by_type: dict[str, tuple[int, ...]]
    topic_anchor: tuple[int, ...]


VERB_FRAMES: tuple[tuple[str, str | None, float], ...] = (
    ("person", "person", 0.22), ("person", "food", 0.12), ("person", "artifact", 0.14),
    ("person", "animal", 0.08), ("person", "place", 0.08), ("person", "organisation", 0.06),
    ("animal", "animal", 0.06), ("animal", "food", 0.05), ("organisation", "person", 0.05),
    ("organisation", "artifact", 0.04), ("person", None, 0.06), ("animal", None, 0.04),
)
"""(subject type, object type, weight) of verb meanings; same-type frames allow agent/patient swaps."""

TOPIC_BOOST = 6.0
"""How much more likely a topic's own concepts, verbs and names are within that topic."""


class _Keys:
    """Allocates keys while the world is built."""

    def __init__(self) -> None:
        self.kind: list[str] = []
        self.upos: list[str] = []
        self.gloss: list[str] = []

    def add(self, kind: str, upos: str, gloss: str) -> int:
        self.kind.append(kind)
        self.upos.append(upos)
        self.gloss.append(gloss)
        return len(self.kind) - 1


def build_world(config: SynthConfig, seed: int) -> World:
    """Generate the world of `seed` (depends on the world knobs of `config` only)."""
    rng = rng_for(seed, "world")
    keys = _Keys()
    for gloss, upos in FUNCTION_WORDS:
        keys.add("func", upos, gloss)
    for form, upos in PUNCTUATION:
        keys.add("punct", upos, form)
    for n in QUANTITIES + YEARS:
        keys.add("num", "NUM", str(n))
    assert len(keys.kind) == K_NAME0

    entities, shared_names = _build_entities(config, rng, keys)
    nouns = _build_nouns(config, rng, keys)
    adjectives = _build_adjectives(config, rng, keys)
    verbs = _build_verbs(config, rng, keys)
    adverbs = tuple(keys.add("adv", "ADV", f"adv{i}") for i in range(config.n_adverbs))

    concept_tables = {}
    for etype in ENTITY_TYPES:
        concepts = [n for n in nouns if n.type == etype and n.level == 2]
        for topic in range(-1, config.n_topics):
            concept_tables[(etype, topic)] = _table(concepts, topic)
    entity_tables = {}
    for etype in NAMED_TYPES:
        of_type = [e for e in entities if e.type == etype]
        for topic in range(-1, config.n_topics):
            entity_tables[(etype, topic)] = _table(of_type, topic)
    verb_tables = {}
    for subj in ("person", "animal", "organisation", "any"):
        of_subj = [v for v in verbs if subj in ("any", v.subj)]
        for topic in range(-1, config.n_topics):
            verb_tables[(subj, topic)] = _table(of_subj, topic)
    adj_by_type = {t: tuple(a.id for a in adjectives if t in a.types) for t in ENTITY_TYPES}
    # Each topic is named after its most frequent concept (hellaswag activity labels, squad titles).
    topic_anchor = []
    for topic in range(config.n_topics):
        own = [n for n in nouns if n.topic == topic]
        topic_anchor.append(max(own, key=lambda n: n.weight).keys[0] if own else nouns[0].keys[0])

    return World(
        n_topics=config.n_topics, key_kind=tuple(keys.kind), key_upos=tuple(keys.upos),
        key_gloss=tuple(keys.gloss), nouns=tuple(nouns), entities=tuple(entities),
        adjectives=tuple(adjectives), verbs=tuple(verbs), adverbs=adverbs,
        shared_names=shared_names,
        noun_of_key={k: n.id for n in nouns for k in n.keys},
        adj_of_key={k: a.id for a in adjectives for k in a.keys},
        verb_of_key={k: v.id for v in verbs for k in v.keys},
        concept_tables=concept_tables, entity_tables=entity_tables, verb_tables=verb_tables,
        frame_verbs={frame: tuple(v.id for v in verbs if (v.subj, v.obj) == frame)
                     for frame in {(v.subj, v.obj) for v in verbs}},
        adj_by_type=adj_by_type, topic_anchor=tuple(topic_anchor))


def _table(things: list, topic: int) -> Table:
    """Zipfian weights, boosted for the things whose home is `topic` (-1: no topic)."""
    items, cum, total = [], [], 0.0
    for thing in things:
        total += thing.weight * (TOPIC_BOOST if thing.topic == topic else 1.0)
        items.append(thing.id)
        cum.append(total)
    return Table(tuple(items), tuple(cum))


def _zipf(n: int, exponent: float, rng: random.Random) -> list[float]:
    """Zipfian weights 1/rank^s in a random order (ranks are not tied to ids)."""
    weights = [1.0 / (rank + 1) ** exponent for rank in range(n)]
    rng.shuffle(weights)
    return weights


def _topics(n: int, n_topics: int, rng: random.Random) -> list[int]:
    """Home topics spread evenly over `n` things, in a random order."""
    topics = [i % n_topics for i in range(n)]
    rng.shuffle(topics)
    return topics


def _build_entities(config: SynthConfig, rng: random.Random, keys: _Keys):
    n_first = math.ceil(0.6 * config.n_persons) + 1
    n_last = math.ceil(0.6 * config.n_persons) + 1
    first = [keys.add("name", "PROPN", f"first{i}") for i in range(n_first)]
    gender = {k: (FW["she"] if i % 2 else FW["he"]) for i, k in enumerate(first)}
    last = [keys.add("name", "PROPN", f"last{i}") for i in range(n_last)]
    places = [keys.add("name", "PROPN", f"place{i}") for i in range(config.n_places)]
    orgwords = [keys.add("name", "PROPN", f"org{i}") for i in range(max(2, config.n_organisations // 2))]
    orgheads = tuple(keys.add("orghead", "PROPN", f"orghead{i}") for i in range(4))

    parts: list[tuple[str, tuple[int, ...], int]] = []
    pairs = list(itertools.product(first, last))
    rng.shuffle(pairs)
    for f, l in pairs[: config.n_persons]:
        parts.append(("person", (f, l), gender[f]))
    seen: set[tuple[int, ...]] = set()
    while sum(1 for p in parts if p[0] == "place") < config.n_places:
        # Some places share a word with a surname: NER must use context, not the word.
        pool = last if rng.random() < 0.2 else places
        name = (rng.choice(pool),) if rng.random() < 0.7 else (rng.choice(places), rng.choice(places))
        if name not in seen and len(set(name)) == len(name):
            seen.add(name)
            parts.append(("place", name, FW["it"]))
    while sum(1 for p in parts if p[0] == "organisation") < config.n_organisations:
        word = rng.choice(last if rng.random() < 0.4 else orgwords)
        if rng.random() < 0.7:
            name = (word, rng.choice(orgheads))
        else:
            name = (word, K_AMP, rng.choice(last + orgwords))
        if name not in seen and name[0] != name[-1]:
            seen.add(name)
            parts.append(("organisation", name, FW["it"]))
    weights = _zipf(len(parts), config.zipf_exponent, rng)
    topics = _topics(len(parts), config.n_topics, rng)
    entities = [Entity(i, t, p, pron, topics[i], weights[i]) for i, (t, p, pron) in enumerate(parts)]
    name_words = first + last + places + orgwords
    shared = frozenset(k for k in name_words if rng.random() < config.name_sharing)
    return entities, shared


def _synonyms(kind: str, upos: str, gloss: str, config: SynthConfig, rng: random.Random,
              keys: _Keys) -> tuple[int, ...]:
    first = keys.add(kind, upos, gloss)
    if rng.random() < config.synonym_fraction:
        return first, keys.add(kind, upos, gloss + "'")
    return (first,)


def _build_nouns(config: SynthConfig, rng: random.Random, keys: _Keys) -> list[Noun]:
    spec = []  # (type, level, parent index in spec, keys)
    for etype in ENTITY_TYPES:
        n_cat = config.categories_per_type if etype in ("animal", "food", "artifact") \
            else max(1, config.categories_per_type // 2)
        top = len(spec)
        spec.append((etype, 0, -1, (keys.add("noun", "NOUN", etype),)))
        for c in range(n_cat):
            cat = len(spec)
            spec.append((etype, 1, top, (keys.add("noun", "NOUN", f"{etype}.c{c}"),)))
            for k in range(config.nouns_per_category):
                spec.append((etype, 2, cat, _synonyms("noun", "NOUN", f"{etype}.c{c}.{k}", config, rng, keys)))
    concept_ids = [i for i, s in enumerate(spec) if s[1] == 2]
    weights = dict(zip(concept_ids, _zipf(len(concept_ids), config.zipf_exponent, rng)))
    topics = dict(zip(concept_ids, _topics(len(concept_ids), config.n_topics, rng)))
    nouns = []
    for i, (etype, level, parent, ks) in enumerate(spec):
        children = tuple(j for j, s in enumerate(spec) if s[2] == i)
        nouns.append(Noun(i, etype, level, parent, children, ks, topics.get(i, -1), weights.get(i, 1.0)))
    return nouns


def _build_adjectives(config: SynthConfig, rng: random.Random, keys: _Keys) -> list[Adjective]:
    adjectives = []
    for p in range(config.n_adjective_pairs):
        types = frozenset(rng.sample(ENTITY_TYPES, rng.choice((1, 2, 2, 3))))
        polarity = rng.choice((1, -1)) if rng.random() < 0.35 else 0
        a, b = 2 * p, 2 * p + 1
        adjectives.append(Adjective(a, _synonyms("adj", "ADJ", f"adj{p}+", config, rng, keys), b, polarity, types))
        adjectives.append(Adjective(b, _synonyms("adj", "ADJ", f"adj{p}-", config, rng, keys), a, -polarity, types))
    # Every type needs adjectives (NLI and paws-x edit them); give uncovered types the first pairs.
    for etype in ENTITY_TYPES:
        if not any(etype in a.types for a in adjectives):
            for i in (0, 1):
                a = adjectives[i]
                adjectives[i] = Adjective(a.id, a.keys, a.antonym, a.polarity, a.types | {etype})
    return adjectives


def _build_verbs(config: SynthConfig, rng: random.Random, keys: _Keys) -> list[Verb]:
    frames = [(s, o) for s, o, _ in VERB_FRAMES]
    frame_weights = [w for _, _, w in VERB_FRAMES]
    # The frames the tasks rely on (same-type swaps, food and artifact objects, intransitives) come
    # first so that every world has them.
    raw = [(s, o, 0, -1) for s, o in (("person", "person"), ("person", "food"), ("person", "artifact"),
                                        ("animal", "animal"), ("person", None), ("organisation", "person"),
                                        ("person", "organisation"))]  # (subj, obj, polarity, antonym)
    while len(raw) < config.n_verbs:
        subj, obj = rng.choices(frames, frame_weights)[0]
        i = len(raw)
        if rng.random() < 0.5 and len(raw) + 2 <= config.n_verbs:
            pol = rng.choice((1, -1)) if rng.random() < 0.5 else 0
            raw.append((subj, obj, pol, i + 1))
            raw.append((subj, obj, -pol, i))
        else:
            pol = rng.choices((1, -1, 0), (0.15, 0.15, 0.7))[0]
            raw.append((subj, obj, pol, -1))
    weights = _zipf(len(raw), config.zipf_exponent, rng)
    topics = _topics(len(raw), config.n_topics, rng)
    ids_by_frame: dict[tuple[str, str | None], list[int]] = {}
    for i, (subj, obj, _, _) in enumerate(raw):
        ids_by_frame.setdefault((subj, obj), []).append(i)
    verbs = []
    for i, (subj, obj, pol, ant) in enumerate(raw):
        # A script successor: what usually happens next to the same object (hellaswag).
        others = [j for j in ids_by_frame[(subj, obj)] if j not in (i, ant)]
        successor = rng.choice(others) if others and obj is not None else -1
        verb_keys = _synonyms("verb", "VERB", f"verb{i}", config, rng, keys)
        verbs.append(Verb(i, verb_keys, subj, obj, pol, ant, successor,
                          topics[i], weights[i]))
    return verbs
