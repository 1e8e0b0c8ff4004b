"""The multilingual MLM pretraining corpus: a deterministic, prefix-stable stream of short documents.

Document i depends only on (seed, i): its language, topic and sentences come from `rng_for(seed,
"corpus", i)`. The corpus of N tokens is the stream cut at the first document that reaches N tokens,
so it is exactly a prefix of the corpus of 2N tokens. Documents are comparable, not parallel: each is
written in one language, except that a `parallel_fraction` of them is followed by a translation into
another language, and words are code-switched with probability `code_switch_prob` (never into or out of
a language written in its own script).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from xscale.synth.config import SynthConfig
from xscale.synth.languages import Realiser
from xscale.synth.mr import COMMON, EVENT, NAME, NP, PRON, Clause, Profile, Sampler, Sentence
from xscale.synth.world import FW, World, rng_for

CORPUS_PROFILE = Profile(p_adj=0.4, p_loc=0.35, p_time=0.2, p_adv=0.15, p_neg=0.15, p_name=0.45, p_count=0.08,
                         p_category=0.1, p_prop=0.15, p_isa=0.08, p_two=0.15, p_intj=0.03)
P_REUSE = 0.5
"""Probability that a subject is one of the document's salient entities (topic coherence)."""
P_PRONOUN = 0.4
"""Probability that a repeated mention of a person is a pronoun."""
P_SCRIPT = 0.3
"""Probability that an event is followed by `then` + its script successor (hellaswag knowledge)."""


@dataclass(frozen=True)
class Row:
    """One corpus row: a document in one language."""

    lang: str
    text: str
    n_tokens: int


def document(world: World, realisers: dict[str, Realiser], config: SynthConfig, seed: int, i: int,
             languages: tuple[str, ...], cum_weights: tuple[float, ...]) -> list[Row]:
    """The rows of document i: the document, and its translation for a parallel document."""
    rng = rng_for(seed, "corpus", i)
    lang = languages[bisect.bisect_right(cum_weights, rng.random() * cum_weights[-1])]
    sentences = _sentences(world, rng, config)
    rows = [_realise(realisers, lang, sentences, rng, config.code_switch_prob, languages)]
    if len(languages) > 1 and rng.random() < config.parallel_fraction:
        other = rng.choice([x for x in languages if x != lang])
        rows.append(_realise(realisers, other, sentences, rng, config.code_switch_prob, languages))
    return rows


def _sentences(world: World, rng: random.Random, config: SynthConfig) -> list[Sentence]:
    topic = rng.randrange(world.n_topics)
    sampler = Sampler(world, rng, CORPUS_PROFILE)
    n = rng.randint(config.doc_sentences_min, config.doc_sentences_max)
    salient = [sampler.np("person", topic, name=True), sampler.np(rng.choice(("animal", "food", "artifact")), topic)]
    mentioned: set[int] = set()
    out: list[Sentence] = []
    while len(out) < n:
        sentence = sampler.sentence(topic)
        first = sentence.clauses[0]
        if first.kind == EVENT and rng.random() < P_REUSE:
            first = _reuse(world, rng, first, salient, mentioned)
            sentence = replace(sentence, clauses=(first,) + sentence.clauses[1:])
        for c in sentence.clauses:
            if c.subj.kind == NAME:
                mentioned.add(c.subj.ref)
        out.append(sentence)
        verb = world.verbs[world.verb_of_key[first.pred]] if first.kind == EVENT else None
        if verb is not None and verb.successor >= 0 and first.obj is not None and not first.neg \
                and len(out) < n and rng.random() < P_SCRIPT:
            subj = first.subj
            if subj.kind == NAME and world.entities[subj.ref].type == "person":
                subj = NP(PRON, subj.ref, world.entities[subj.ref].pronoun)
            obj = replace(first.obj, definite=True) if first.obj.kind == COMMON else first.obj
            successor = world.verbs[verb.successor]
            out.append(Sentence((Clause(EVENT, subj, rng.choice(successor.keys), obj),), intj=FW["then"]))
    return out


def _reuse(world: World, rng: random.Random, c: Clause, salient: list[NP], mentioned: set[int]) -> Clause:
    """`c` with its subject or object replaced by a salient entity of the right type, if any."""
    verb = world.verbs[world.verb_of_key[c.pred]]
    for np in salient:
        etype = world.entities[np.ref].type if np.kind == NAME else world.nouns[np.ref].type
        if verb.subj == etype:
            if np.kind == NAME and np.ref in mentioned and rng.random() < P_PRONOUN:
                np = NP(PRON, np.ref, world.entities[np.ref].pronoun)
            elif np.kind == COMMON:
                np = replace(np, definite=True)
            clash = c.obj is not None and c.obj.kind == np.kind and c.obj.ref == np.ref
            return c if clash else replace(c, subj=np)
        if verb.obj == etype and np.kind == COMMON:
            return replace(c, obj=replace(np, definite=True))
    return c


def _realise(realisers: dict[str, Realiser], lang: str, sentences: list[Sentence], rng: random.Random,
             switch_prob: float, languages: tuple[str, ...]) -> Row:
    realiser = realisers[lang]
    forms = realiser.forms
    # Code-switching stays within a script: an `own_script` language neither lends nor borrows words.
    spec = realiser.spec
    others = [realisers[x].forms for x in languages
              if x != lang and not spec.own_script and not realisers[x].spec.own_script]
    random_ = rng.random
    words: list[str] = []
    for sentence in sentences:
        for tok in realiser.sentence(sentence):
            key = tok[0]
            # Code-switching: the same MR node in another language that has a word for it.
            if others and random_() < switch_prob:
                words.append(rng.choice(others)[key] or forms[key])  # type: ignore[arg-type]
            else:
                words.append(forms[key])  # type: ignore[arg-type]
    return Row(lang, " ".join(words), len(words))


def stream(world: World, realisers: dict[str, Realiser], config: SynthConfig, seed: int) -> Iterator[Row]:
    """The endless document stream."""
    weights = config.lang_weights()
    languages = tuple(weights)
    cum, total = [], 0.0
    for lang in languages:
        total += weights[lang]
        cum.append(total)
    i = 0
    while True:
        yield from document(world, realisers, config, seed, i, languages, tuple(cum))
        i += 1


def build_corpus(world: World, realisers: dict[str, Realiser], config: SynthConfig, seed: int) -> list[Row]:
    """The stream cut after the row that reaches `config.corpus_tokens` tokens."""
    rows, total = [], 0
    for row in stream(world, realisers, config, seed):
        rows.append(row)
        total += row.n_tokens
        if total >= config.corpus_tokens:
            return rows
    return rows
