"""Meaning representations (MRs) and their sampler.

An MR is a sentence of one or two clauses over the world's keys. Every label of every task is computed
from MRs, and every language realises the same MR, so labels never depend on the language. MR objects
are treated as immutable once built; edits go through `dataclasses.replace`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from xscale.synth.world import FW, NAMED_TYPES, QUANTITIES, YEARS, World

NAME, COMMON, PRON, WH = 0, 1, 2, 3
"""NP kinds: a named entity, a common noun phrase, a pronoun, a question word."""
EVENT, PROP, ISA = 0, 1, 2
"""Clause kinds: `subj verb [obj]`, `subj is adj`, `subj is a noun`."""
WH_SUBJ, WH_OBJ, WH_LOC, WH_TIME, WH_YN = 1, 2, 3, 4, 5
"""What a question asks for (0: a statement)."""
FRONT_LOC, FRONT_TIME = 1, 2
"""Which adjunct a clause fronts (0: none); fronting changes word order, never meaning."""


@dataclass(slots=True)
class NP:
    """A noun phrase: `ref` is an entity id (NAME, PRON) or a noun id (COMMON)."""

    kind: int
    ref: int = -1
    key: int = -1
    adjs: tuple[int, ...] = ()
    definite: bool = True
    count: int = 1


@dataclass(slots=True)
class Clause:
    """One clause; `pred` is a verb key (EVENT), an adjective key (PROP) or a noun key (ISA)."""

    kind: int
    subj: NP
    pred: int
    obj: NP | None = None
    loc: NP | None = None
    year: int = 0
    adv: int = -1
    neg: bool = False
    front: int = 0
    wh: int = 0


@dataclass(slots=True)
class Sentence:
    """One or two clauses joined by `conn` (a function-word key), optionally after `intj`.

    `intj` is an interjection key (followed by a comma) or the key of `then` (no comma).
    """

    clauses: tuple[Clause, ...]
    conn: int = -1
    intj: int = -1


@dataclass(frozen=True)
class Profile:
    """Probabilities that shape sampled MRs (tasks use different profiles)."""

    p_adj: float = 0.4
    p_loc: float = 0.35
    p_time: float = 0.2
    p_adv: float = 0.12
    p_neg: float = 0.15
    p_name: float = 0.45
    p_count: float = 0.08
    p_definite: float = 0.6
    p_category: float = 0.08
    p_prop: float = 0.15
    p_isa: float = 0.0
    p_two: float = 0.0
    p_intj: float = 0.0
    p_pron: float = 0.0


def np_type(world: World, np: NP) -> str:
    """The entity type of a NAME, PRON or COMMON noun phrase."""
    if np.kind == COMMON:
        return world.nouns[np.ref].type
    return world.entities[np.ref].type


def same_np(a: NP | None, b: NP | None) -> bool:
    """Whether two NPs denote the same thing (ignoring synonyms and pronouns' form)."""
    if a is None or b is None:
        return a is b
    return (a.kind, a.ref, a.adjs, a.count) == (b.kind, b.ref, b.adjs, b.count)


class Sampler:
    """Samples MRs from the world with one `random.Random`; `topic` -1 means no topic."""

    def __init__(self, world: World, rng: random.Random, profile: Profile = Profile()):
        self.world = world
        self.rng = rng
        self.profile = profile

    def adjective(self, etype: str, avoid: tuple[int, ...] = ()) -> int:
        meanings = self.world.adj_by_type[etype]
        meaning = self.rng.choice(meanings)
        for _ in range(4):
            if not any(self.world.adj_of_key[k] in (meaning, self.world.adjectives[meaning].antonym) for k in avoid):
                break
            meaning = self.rng.choice(meanings)
        return self.rng.choice(self.world.adjectives[meaning].keys)

    def np(self, etype: str, topic: int, *, name: bool | None = None, adj: bool | None = None) -> NP:
        """A noun phrase of type `etype` (a named entity with probability p_name when the type has names)."""
        rng, pr, world = self.rng, self.profile, self.world
        if etype in NAMED_TYPES and (name if name is not None else rng.random() < pr.p_name):
            return NP(NAME, world.entity_tables[(etype, topic)].sample(rng))
        noun = world.nouns[world.concept_tables[(etype, topic)].sample(rng)]
        if rng.random() < pr.p_category:
            noun = world.nouns[noun.parent]
            if rng.random() < 0.3:
                noun = world.nouns[noun.parent]
        adjs = (self.adjective(etype),) if (adj if adj is not None else rng.random() < pr.p_adj) else ()
        count = rng.choice(QUANTITIES) if rng.random() < pr.p_count else 1
        return NP(COMMON, noun.id, rng.choice(noun.keys), adjs, rng.random() < pr.p_definite, count)

    def event(self, topic: int, verb: int | None = None, subj_type: str = "any") -> Clause:
        rng, pr, world = self.rng, self.profile, self.world
        v = world.verbs[verb if verb is not None else world.verb_tables[(subj_type, topic)].sample(rng)]
        subj = self.np(v.subj, topic)
        obj = None
        if v.obj is not None:
            obj = self.np(v.obj, topic)
            for _ in range(3):
                if not same_np(obj, subj) and not (obj.kind == subj.kind == NAME and obj.ref == subj.ref):
                    break
                obj = self.np(v.obj, topic)
        loc = self.np("place", topic) if rng.random() < pr.p_loc else None
        if loc is not None and obj is not None and loc.kind == obj.kind and loc.ref == obj.ref:
            loc = None
        year = rng.choice(YEARS) if rng.random() < pr.p_time else 0
        adv = rng.choice(world.adverbs) if rng.random() < pr.p_adv and world.adverbs else -1
        return Clause(EVENT, subj, rng.choice(v.keys), obj, loc, year, adv, rng.random() < pr.p_neg)

    def prop(self, topic: int, etype: str | None = None) -> Clause:
        etype = etype or self.rng.choice(("person", "animal", "food", "artifact", "place", "artifact"))
        subj = self.np(etype, topic)
        return Clause(PROP, subj, self.adjective(etype, avoid=subj.adjs), neg=self.rng.random() < self.profile.p_neg)

    def isa(self, topic: int) -> Clause:
        rng, world = self.rng, self.world
        etype = rng.choice(("animal", "food", "artifact", "person", "place", "organisation"))
        noun = world.nouns[world.concept_tables[(etype, topic)].sample(rng)]
        parent = world.nouns[noun.parent]
        if rng.random() < 0.3:
            parent = world.nouns[parent.parent]
        subj = NP(COMMON, noun.id, rng.choice(noun.keys), (), False)
        return Clause(ISA, subj, rng.choice(parent.keys), neg=False)

    def clause(self, topic: int) -> Clause:
        r = self.rng.random()
        if r < self.profile.p_isa:
            return self.isa(topic)
        if r < self.profile.p_isa + self.profile.p_prop:
            return self.prop(topic)
        return self.event(topic)

    def sentence(self, topic: int) -> Sentence:
        """A statement of one clause, or two joined by `and`/`because`/`while`."""
        rng, pr = self.rng, self.profile
        first = self.clause(topic)
        intj = rng.choice((FW["oh"], FW["well"])) if rng.random() < pr.p_intj else -1
        if rng.random() < pr.p_two:
            conn = rng.choice((FW["and"], FW["and"], FW["because"], FW["while"]))
            return Sentence((first, self.clause(topic)), conn, intj)
        return Sentence((first,), -1, intj)

