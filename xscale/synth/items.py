"""Task items at the level of meaning: what each example says and its label, before any language.

Every label is decided here, from MRs and the world's relations; `tasks.py` only realises items. Each
generator takes its own `random.Random`, the label it must produce (labels are assigned outside so that
they are balanced in every prefix), a topic, and `shared`: whether an intermediate-task item follows
its target task's label logic (see `SynthConfig.task_overlap`).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace

from xscale.synth.languages import Realiser, object_marked, question_np
from xscale.synth.mr import (COMMON, EVENT, FRONT_LOC, FRONT_TIME, NAME, NP, PRON, PROP, WH_LOC, WH_OBJ,
                             WH_SUBJ, WH_TIME, WH_YN, Clause, Profile, Sampler, Sentence, np_type, same_np)
from xscale.synth.world import FW, YEARS, World

ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2


@dataclass(frozen=True)
class PairItem:
    """Two sentences and a label (NLI, paraphrase)."""

    first: Sentence
    second: Sentence
    label: int


@dataclass(frozen=True)
class QAItem:
    """A context of single-clause sentences, a question, and the answer's (sentence, role) or None."""

    context: tuple[Sentence, ...]
    question: Sentence
    answer: tuple[int, str] | None
    topic: int


@dataclass(frozen=True)
class ChoiceItem:
    """A context and four candidate next sentences (hellaswag); rendering splits off their shared start."""

    context: tuple[Sentence, ...]
    endings: tuple[Sentence, ...]
    label: int
    topic: int


# ----------------------------------------------------------------------------------------------- NLI

NLI_PROFILE = Profile(p_adj=0.35, p_loc=0.3, p_time=0.2, p_adv=0.15, p_neg=0.5, p_name=0.4, p_count=0.0,
                      p_category=0.25, p_prop=0.15)
NLI_OPS_TARGET = {ENTAILMENT: ("identity", "synonym", "specialise", "contrary"), NEUTRAL: ("drop", "generalise"),
                  CONTRADICTION: ("negation", "adj_antonym", "verb_antonym")}
NLI_OPS_OWN = {ENTAILMENT: ("identity", "synonym"), NEUTRAL: ("drop",),
               CONTRADICTION: ("negation", "verb_antonym")}
"""Label logic: how the premise is built from the hypothesis (target tasks, and intermediate-only)."""

PREMISE_EXTRA_WORDS = (1, 2, 3)
"""The premise is longer than the hypothesis by one of these when every label can reach it."""
_FALLBACK_OPS = {ENTAILMENT: "identity", NEUTRAL: "unrelated", CONTRADICTION: "negation"}
"""An edit that applies to every hypothesis, so the hypothesis never depends on the label."""


@dataclass(frozen=True)
class _Candidate:
    """An edited premise and the label-neutral modifiers it may be padded with (word cost each)."""

    premise: Clause
    padding: tuple[tuple[str, object, int], ...]
    lengths: dict[int, list[tuple[int, ...]]]
    """English length -> the subsets of `padding` (as index tuples) that reach it."""
    fallback: bool
    """Made by the label's fallback edit, used only when no other edit reaches the length."""

    def padded(self, rng: random.Random, length: int) -> Clause:
        changes = {}
        for i in rng.choice(self.lengths[length]):
            field, value, _ = self.padding[i]
            changes[field] = value
        return replace(self.premise, **changes)


def nli_item(world: World, en: Realiser, rng: random.Random, label: int, topic: int, shared: bool) -> PairItem:
    """An NLI pair: the hypothesis is sampled first (so it alone says nothing about the label), then
    the premise is derived from it by the label's logic and padded with extra, label-neutral modifiers.

    Candidate premises are built for all three labels from the same random stream, and the premise
    length is drawn from the lengths that every label can reach, so (in English) the lengths of the
    pair say nothing about the label either."""
    s = Sampler(world, rng, NLI_PROFILE)
    hyp = s.event(topic) if rng.random() < 0.85 else s.prop(topic)
    ops = NLI_OPS_TARGET if shared else NLI_OPS_OWN
    hyp_len = len(en.clause(hyp, "c0"))
    candidates = [_premise_candidates(s, en, ops[lab] + (_FALLBACK_OPS[lab],), hyp, topic) for lab in range(3)]
    reach = [set().union(*(c.lengths for c in cands)) for cands in candidates]
    common = sorted(set.intersection(*reach))
    preferred = [n for n in common if n - hyp_len in PREMISE_EXTRA_WORDS]
    if preferred or common:
        length = rng.choice(preferred or common)
    else:  # rare: no length suits every label; take this label's closest to the preferred extras
        length = min(sorted(reach[label]), key=lambda n: abs(n - hyp_len - 2))
    fits = [c for c in candidates[label] if length in c.lengths]
    chosen = rng.choice([c for c in fits if not c.fallback] or fits)
    return PairItem(Sentence((chosen.padded(rng, length),)), Sentence((hyp,)), label)


def _premise_candidates(s: Sampler, en: Realiser, ops: tuple[str, ...], hyp: Clause, topic: int) -> list[_Candidate]:
    """Candidate premises from each applicable op (the fallback op always applies); a few unrelated
    events, whose lengths vary, so that some length is reachable by every label."""
    out = []
    for op in ops:
        for _ in range(2 if op == "unrelated" else 1):
            for _ in range(3):
                edited = _nli_edit(s, op, hyp, topic)
                if edited is not None:
                    out.append(_padding(s, en, edited[0], edited[1], topic, op == ops[-1]))
                    break
    return out


_NP_SLOTS = ("subj", "obj", "loc")
_Edit = "tuple[Clause, tuple[str, ...]] | None"
"""A premise edited from a hypothesis and the modifier slots padding must not touch, or None."""


def _nps(c: Clause) -> list[tuple[str, NP]]:
    return [(slot, getattr(c, slot)) for slot in _NP_SLOTS if getattr(c, slot) is not None]


def _nli_edit(s: Sampler, op: str, h: Clause, topic: int) -> tuple[Clause, tuple[str, ...]] | None:
    """The premise edited from hypothesis `h` by `op`, and the modifier slots padding must not touch
    (None when `op` does not apply to `h`)."""
    return _NLI_EDITS[op](s, h, topic)


def _edit_identity(s: Sampler, h: Clause, topic: int) -> _Edit:
    """The hypothesis itself (entailment)."""
    return h, ()


def _edit_negation(s: Sampler, h: Clause, topic: int) -> _Edit:
    """The hypothesis negated (contradiction)."""
    return replace(h, neg=not h.neg), ()


def _edit_contrary(s: Sampler, h: Clause, topic: int) -> _Edit:
    """A negated hypothesis turned into its affirmative antonym (entailment): "X is small" entails
    "X is not big", "Ana hated it" entails "Ana did not love it"."""
    world, rng = s.world, s.rng
    if not h.neg:
        return None
    if h.kind == PROP:
        return replace(h, pred=_antonym_adj(s, h.pred), neg=False), ()
    verb = world.verbs[world.verb_of_key[h.pred]] if h.kind == EVENT else None
    if verb is None or verb.antonym < 0 or verb.polarity == 0:
        return None
    return replace(h, pred=rng.choice(world.verbs[verb.antonym].keys), neg=False), ()


def _edit_synonym(s: Sampler, h: Clause, topic: int) -> _Edit:
    """One word of the hypothesis replaced by a synonym (entailment)."""
    world, rng = s.world, s.rng
    options = []
    keys = _pred_keys(world, h)
    if len(keys) > 1:
        options.append(("pred", None, [k for k in keys if k != h.pred]))
    for slot, np in _nps(h):
        if np.kind == COMMON:
            noun_keys = world.nouns[np.ref].keys
            if len(noun_keys) > 1:
                options.append((slot, "noun", [k for k in noun_keys if k != np.key]))
            for i, a in enumerate(np.adjs):
                adj_keys = world.adjectives[world.adj_of_key[a]].keys
                if len(adj_keys) > 1:
                    options.append((slot, i, [k for k in adj_keys if k != a]))
    if not options:
        return None
    slot, part, alternatives = rng.choice(options)
    new = rng.choice(alternatives)
    if slot == "pred":
        return replace(h, pred=new), ()
    np = getattr(h, slot)
    if part == "noun":
        return replace(h, **{slot: replace(np, key=new)}), ()
    adjs = list(np.adjs)
    adjs[part] = new
    return replace(h, **{slot: replace(np, adjs=tuple(adjs))}), ()


def _edit_specialise(s: Sampler, h: Clause, topic: int) -> _Edit:
    """A noun replaced by a hyponym: the premise is more specific (entailment)."""
    world, rng = s.world, s.rng
    options = [(slot, np) for slot, np in _nps(h) if np.kind == COMMON and world.nouns[np.ref].level < 2]
    if not options:
        return None
    slot, np = rng.choice(options)
    noun = world.nouns[np.ref]
    while noun.level < 2:
        noun = world.nouns[rng.choice(noun.children)]
    return replace(h, **{slot: replace(np, ref=noun.id, key=rng.choice(noun.keys))}), ()


def _edit_generalise(s: Sampler, h: Clause, topic: int) -> _Edit:
    """A noun replaced by its hypernym: the premise says less (neutral)."""
    world, rng = s.world, s.rng
    options = [(slot, np) for slot, np in _nps(h) if np.kind == COMMON and world.nouns[np.ref].level > 0]
    if not options:
        return None
    slot, np = rng.choice(options)
    parent = world.nouns[world.nouns[np.ref].parent]
    return replace(h, **{slot: replace(np, ref=parent.id, key=rng.choice(parent.keys))}), ()


def _edit_unrelated(s: Sampler, h: Clause, topic: int) -> _Edit:
    """The same participants under an unrelated predicate (neutral)."""
    world, rng = s.world, s.rng
    # The same participants under an unrelated predicate (neither synonym nor antonym): the
    # hypothesis is neither supported nor contradicted.
    if h.kind == PROP:
        meaning = world.adjectives[world.adj_of_key[h.pred]]
        taken = {meaning.id, meaning.antonym} | {world.adj_of_key[a] for a in h.subj.adjs}
        taken |= {world.adjectives[m].antonym for m in list(taken)}
        others = [a for a in world.adj_by_type[np_type(world, h.subj)] if a not in taken]
        # Polarity is free too: "X is kind" says nothing about "X is not big".
        neg = h.neg and rng.random() < 0.5
        if others:
            return replace(h, pred=rng.choice(world.adjectives[rng.choice(others)].keys), neg=neg), ()
    elif h.kind == EVENT:
        verb = world.verbs[world.verb_of_key[h.pred]]
        others = [v for v in world.frame_verbs[(verb.subj, verb.obj)] if v not in (verb.id, verb.antonym)]
        neg = h.neg and rng.random() < 0.5
        if others:
            return replace(h, pred=rng.choice(world.verbs[rng.choice(others)].keys), neg=neg), ()
    # No unrelated predicate of the same frame: another event about the same subject.
    etype = np_type(world, h.subj) if h.subj.kind in (NAME, COMMON) else "any"
    subj_type = etype if (etype, topic) in world.verb_tables else "any"
    for _ in range(8):
        p = replace(s.event(topic, subj_type=subj_type), loc=None, year=0, adv=-1)
        verb = world.verbs[world.verb_of_key[p.pred]]
        if h.kind != EVENT or world.verb_of_key[h.pred] not in (verb.id, verb.antonym):
            break
    else:
        return None
    if p.obj is not None and p.obj.kind == COMMON:
        p = replace(p, obj=replace(p.obj, adjs=()))
    if verb.subj == etype:
        p = replace(p, subj=h.subj)
        if same_np(p.obj, p.subj):
            return None
    return p, ()


def _edit_drop(s: Sampler, h: Clause, topic: int) -> _Edit:
    """A modifier left out of the premise: the hypothesis says more than it (neutral)."""
    rng = s.rng
    # Under negation, leaving out an adjunct is no longer neutral ("did not eat it in the park"
    # does not say whether she ate it elsewhere), so only adjectives are dropped then.
    options = [("adv",)] if h.adv >= 0 and not h.neg else []
    if h.loc is not None and not h.neg:
        options.append(("loc",))
    if h.year and not h.neg:
        options.append(("time",))
    for slot, np in _nps(h):
        if np.adjs:
            options.append(("adj", slot))
    if not options:
        return None
    choice = rng.choice(options)
    if choice[0] == "adv":
        return replace(h, adv=-1), ("adv",)
    if choice[0] == "loc":
        return replace(h, loc=None), ("loc", "adj:loc")
    if choice[0] == "time":
        return replace(h, year=0), ("time",)
    slot = choice[1]
    return replace(h, **{slot: replace(getattr(h, slot), adjs=())}), ("adj:" + slot,)


def _edit_adj_antonym(s: Sampler, h: Clause, topic: int) -> _Edit:
    """An adjective replaced by its antonym (contradiction)."""
    rng = s.rng
    if h.kind == PROP:
        # "is not big" and "is not small" are compatible: only affirmative predicates clash.
        return (replace(h, pred=_antonym_adj(s, h.pred)), ()) if not h.neg else None
    options = [(slot, np) for slot, np in _nps(h) if np.kind == COMMON and np.adjs and np.definite]
    if not options:
        return None
    slot, np = rng.choice(options)
    return replace(h, **{slot: replace(np, adjs=(_antonym_adj(s, np.adjs[0]),) + np.adjs[1:])}), ()


def _edit_verb_antonym(s: Sampler, h: Clause, topic: int) -> _Edit:
    """The verb replaced by its antonym (contradiction)."""
    world, rng = s.world, s.rng
    if h.kind != EVENT:
        return None
    verb = world.verbs[world.verb_of_key[h.pred]]
    if verb.antonym < 0 or h.neg:
        return None
    return replace(h, pred=rng.choice(world.verbs[verb.antonym].keys)), ()


_NLI_EDITS = {
    "identity": _edit_identity,
    "negation": _edit_negation,
    "contrary": _edit_contrary,
    "synonym": _edit_synonym,
    "specialise": _edit_specialise,
    "generalise": _edit_generalise,
    "unrelated": _edit_unrelated,
    "drop": _edit_drop,
    "adj_antonym": _edit_adj_antonym,
    "verb_antonym": _edit_verb_antonym,
}
"""Each NLI edit by name (`ops` of the label rules); an edit returns None when it does not apply."""


def _pred_keys(world: World, c: Clause) -> tuple[int, ...]:
    if c.kind == EVENT:
        return world.verbs[world.verb_of_key[c.pred]].keys
    if c.kind == PROP:
        return world.adjectives[world.adj_of_key[c.pred]].keys
    return (c.pred,)


def _antonym_adj(s: Sampler, key: int) -> int:
    meaning = s.world.adjectives[s.world.adj_of_key[key]]
    return s.rng.choice(s.world.adjectives[meaning.antonym].keys)


def _padding(s: Sampler, en: Realiser, p: Clause, blocked: tuple[str, ...], topic: int,
             fallback: bool) -> _Candidate:
    """The modifiers that may be added to premise `p` without changing the label, and the English
    lengths their subsets reach (an adverb or adjective is one word, a year `in YEAR`, a place `in` + NP)."""
    world, rng = s.world, s.rng
    options: list[tuple[str, object, int]] = []
    if p.kind == EVENT and not p.neg:
        # Adjuncts added under negation would change what is denied (see `drop`).
        if p.adv < 0 and world.adverbs and "adv" not in blocked:
            options.append(("adv", rng.choice(world.adverbs), 1))
        if not p.year and "time" not in blocked:
            options.append(("year", rng.choice(YEARS), 2))
        if p.loc is None and "loc" not in blocked:
            loc = s.np("place", topic, adj=False)
            options.append(("loc", loc, 1 + len(en.np(loc, "loc", -1))))
    for slot, np in _nps(p):
        if np.kind == COMMON and not np.adjs and world.adj_by_type[world.nouns[np.ref].type] \
                and "adj:" + slot not in blocked:
            options.append((slot, replace(np, adjs=(s.adjective(world.nouns[np.ref].type),)), 1))
    base = len(en.clause(p, "c0"))
    lengths: dict[int, list[tuple[int, ...]]] = {}
    for size in range(len(options) + 1):
        for subset in itertools.combinations(range(len(options)), size):
            lengths.setdefault(base + sum(options[i][2] for i in subset), []).append(subset)
    return _Candidate(p, tuple(options), lengths, fallback)


# -------------------------------------------------------------------------------------- paraphrases

PAWS_PROFILE = Profile(p_adj=0.5, p_loc=0.6, p_time=0.5, p_adv=0.1, p_neg=0.1, p_name=0.5, p_count=0.05,
                       p_category=0.05)


def paws_item(world: World, rng: random.Random, label: int, topic: int) -> PairItem:
    """A PAWS pair: both sentences have the same bag of words. Paraphrases (label 1) only reorder
    (adjunct fronting, swapping `and`-joined clauses); non-paraphrases also swap two same-type
    arguments or modifiers, which changes who did what."""
    s = Sampler(world, rng, PAWS_PROFILE)
    for attempt in range(1000):
        sent = _paws_sentence(s, topic if attempt < 500 else -1)
        reorders, swaps = _reorders(sent), _swaps(world, sent)
        if reorders and swaps:
            break
    else:
        raise RuntimeError("no PAWS sentence with both a reordering and a swap")
    if label == 1:
        return PairItem(sent, rng.choice(reorders), 1)
    swapped = rng.choice(swaps)
    return PairItem(sent, rng.choice(_reorders(swapped) or [swapped]), 0)


def _paws_sentence(s: Sampler, topic: int) -> Sentence:
    rng = s.rng
    if rng.random() < 0.35:
        return Sentence((_fronted(rng, s.event(topic)), _fronted(rng, s.event(topic))), FW["and"])
    subj_type = rng.choice(("person", "person", "animal", "any"))
    return Sentence((_fronted(rng, s.event(topic, subj_type=subj_type)),))


def _fronted(rng: random.Random, c: Clause) -> Clause:
    options = [0] + ([FRONT_LOC] if c.loc is not None else []) + ([FRONT_TIME] if c.year else [])
    return replace(c, front=rng.choice(options))


def _reorders(sent: Sentence) -> list[Sentence]:
    """Meaning-preserving reorderings of `sent` (same words, different order)."""
    out = []
    for i, c in enumerate(sent.clauses):
        options = [0] + ([FRONT_LOC] if c.loc is not None else []) + ([FRONT_TIME] if c.year else [])
        for front in options:
            if front != c.front:
                clauses = list(sent.clauses)
                clauses[i] = replace(c, front=front)
                out.append(replace(sent, clauses=tuple(clauses)))
    if len(sent.clauses) == 2 and sent.conn == FW["and"]:
        out.append(replace(sent, clauses=sent.clauses[::-1]))
    return out


def _swaps(world: World, sent: Sentence) -> list[Sentence]:
    """Meaning-changing swaps of two same-type parts of `sent` (same words, different meaning)."""
    out = []
    clauses = sent.clauses

    def with_clauses(*cs: Clause) -> Sentence:
        return replace(sent, clauses=tuple(cs))

    for i, c in enumerate(clauses):
        rest = list(clauses)
        if c.kind != EVENT or c.obj is None:
            continue
        verb = world.verbs[world.verb_of_key[c.pred]]
        if c.subj.kind not in (NAME, COMMON) or c.obj.kind not in (NAME, COMMON):
            continue
        # Swapping a marked and an unmarked argument would change an object-marking language's bag of words.
        if verb.subj == verb.obj and not same_np(c.subj, c.obj) and object_marked(c.subj) == object_marked(c.obj):
            rest[i] = replace(c, subj=c.obj, obj=c.subj)
            out.append(with_clauses(*rest))
        if (c.subj.kind == COMMON and c.obj.kind == COMMON and c.subj.adjs != c.obj.adjs
                and _adjs_fit(world, c.subj.adjs, c.obj) and _adjs_fit(world, c.obj.adjs, c.subj)):
            rest = list(clauses)
            rest[i] = replace(c, subj=replace(c.subj, adjs=c.obj.adjs), obj=replace(c.obj, adjs=c.subj.adjs))
            out.append(with_clauses(*rest))
    if len(clauses) == 2:
        a, b = clauses
        if a.kind == b.kind == EVENT:
            va, vb = world.verbs[world.verb_of_key[a.pred]], world.verbs[world.verb_of_key[b.pred]]
            if va.subj == vb.subj and not same_np(a.subj, b.subj):
                out.append(with_clauses(replace(a, subj=b.subj), replace(b, subj=a.subj)))
            if a.loc is not None and b.loc is not None and not same_np(a.loc, b.loc):
                out.append(with_clauses(replace(a, loc=b.loc), replace(b, loc=a.loc)))
            if a.year and b.year and a.year != b.year:
                out.append(with_clauses(replace(a, year=b.year), replace(b, year=a.year)))
    return out


def _adjs_fit(world: World, adjs: tuple[int, ...], np: NP) -> bool:
    etype = world.nouns[np.ref].type
    return all(etype in world.adjectives[world.adj_of_key[a]].types for a in adjs)


QQP_PROFILE = Profile(p_adj=0.35, p_loc=0.3, p_time=0.2, p_adv=0.1, p_neg=0.1, p_name=0.5, p_count=0.05)


def qqp_item(world: World, rng: random.Random, label: int, topic: int, shared: bool) -> PairItem:
    """A question pair. Duplicates (label 1) reword with synonyms; non-duplicates swap two same-type
    arguments (the paws-x logic, when `shared`) or substitute one argument, verb or polarity."""
    s = Sampler(world, rng, QQP_PROFILE)
    for attempt in range(1000):
        # A topic with too few suitable verbs falls back to the whole world after a while.
        t = topic if attempt < 500 else -1
        verb = world.verb_tables[(rng.choice(("person", "any")), t)].sample(rng)
        if shared:
            # Swaps need two arguments of one type, and a question that names both.
            for _ in range(10):
                if world.verbs[verb].subj == world.verbs[verb].obj:
                    break
                verb = world.verb_tables[("any", t)].sample(rng)
        c = s.event(t, verb=verb)
        if not _has_synonym(world, c):  # cheap early rejection
            continue
        q = _question(s, c, (WH_YN, WH_LOC) if shared else (WH_YN, WH_SUBJ, WH_OBJ, WH_LOC))
        synonyms = _synonym_edits(world, q)
        negatives = _swaps(world, Sentence((q,))) if shared else _substitutions(s, q, topic)
        if synonyms and negatives:
            break
    else:
        raise RuntimeError("no qqp question with both a paraphrase and a non-paraphrase")
    first = Sentence((q,))
    if label == 1:
        return PairItem(first, Sentence((rng.choice(synonyms),)), 1)
    return PairItem(first, rng.choice(negatives) if shared else Sentence((rng.choice(negatives),)), 0)


def _question(s: Sampler, c: Clause, kinds: tuple[int, ...] = (WH_YN, WH_SUBJ, WH_OBJ, WH_LOC)) -> Clause:
    """`c` turned into a yes/no question or a question about one of its arguments or adjuncts."""
    options = [k for k in kinds if k in (WH_YN, WH_SUBJ) or (k == WH_OBJ and c.obj is not None)
               or (k == WH_LOC and c.loc is not None)]
    wh = s.rng.choice(options)
    world = s.world
    c = replace(c, front=0, wh=wh)
    if wh == WH_SUBJ:
        return replace(c, subj=question_np(np_type(world, c.subj)))
    if wh == WH_OBJ:
        return replace(c, obj=question_np(np_type(world, c.obj)))
    if wh == WH_LOC:
        return replace(c, loc=None)
    return c


def _has_synonym(world: World, c: Clause) -> bool:
    if len(_pred_keys(world, c)) > 1:
        return True
    return any(np.kind == COMMON and (len(world.nouns[np.ref].keys) > 1 or
                                      any(len(world.adjectives[world.adj_of_key[a]].keys) > 1 for a in np.adjs))
               for _, np in _nps(c))


def _synonym_edits(world: World, c: Clause) -> list[Clause]:
    out = []
    for k in _pred_keys(world, c):
        if k != c.pred:
            out.append(replace(c, pred=k))
    for slot, np in _nps(c):
        if np.kind == COMMON:
            for k in world.nouns[np.ref].keys:
                if k != np.key:
                    out.append(replace(c, **{slot: replace(np, key=k)}))
            for i, a in enumerate(np.adjs):
                for k in world.adjectives[world.adj_of_key[a]].keys:
                    if k != a:
                        adjs = np.adjs[:i] + (k,) + np.adjs[i + 1:]
                        out.append(replace(c, **{slot: replace(np, adjs=adjs)}))
    return out


def _substitutions(s: Sampler, c: Clause, topic: int) -> list[Clause]:
    world = s.world
    out = [replace(c, neg=not c.neg)]
    verb = world.verbs[world.verb_of_key[c.pred]]
    for _ in range(3):
        other = world.verbs[world.verb_tables[(verb.subj, topic)].sample(s.rng)]
        if other.obj == verb.obj and other.id != verb.id:
            out.append(replace(c, pred=s.rng.choice(other.keys)))
            break
    for slot, np in _nps(c):
        if np.kind in (NAME, COMMON):
            new = s.np(np_type(world, np), topic)
            if not same_np(new, np) and not (np.kind == COMMON and new.kind == COMMON and new.ref == np.ref):
                out.append(replace(c, **{slot: new}))
    return out


# ------------------------------------------------------------------------------------------ sentiment

SST_PROFILE = Profile(p_adj=0.45, p_loc=0.2, p_time=0.1, p_adv=0.15, p_neg=0.0, p_name=0.45, p_count=0.05)


def sst_item(world: World, rng: random.Random, label: int, topic: int) -> Sentence:
    """A sentence whose sentiment is its main predicate's polarity, flipped by negation; adjectives on
    the arguments have random polarity and do not count."""
    s = Sampler(world, rng, SST_PROFILE)
    neg = rng.random() < 0.35
    polarity = (1 if label == 1 else -1) * (-1 if neg else 1)
    verbs = [v for v in world.verbs if v.polarity == polarity]
    adjectives = [a for a in world.adjectives if a.polarity == polarity]
    if verbs and (not adjectives or rng.random() < 0.7):
        verb = max(verbs, key=lambda v: v.weight * (3.0 if v.topic == topic else 1.0) * rng.random())
        c = s.event(topic, verb=verb.id)
    else:
        adj = rng.choice(adjectives)
        etype = rng.choice(sorted(adj.types))
        c = s.prop(topic, etype)
        # An attributive adjective of the same scale ("the good X is bad") would muddle the label.
        if any(world.adj_of_key[a] in (adj.id, adj.antonym) for a in c.subj.adjs):
            c = replace(c, subj=replace(c.subj, adjs=()))
        c = replace(c, pred=rng.choice(adj.keys))
    return Sentence((replace(c, neg=neg),))


# ---------------------------------------------------------------------------------------- sequences

TAGGING_PROFILE = Profile(p_adj=0.45, p_loc=0.4, p_time=0.25, p_adv=0.2, p_neg=0.2, p_name=0.45, p_count=0.12,
                          p_category=0.1, p_prop=0.15, p_isa=0.05, p_two=0.25, p_intj=0.05)
CCG_OWN_PROFILE = Profile(p_adj=0.45, p_loc=0.2, p_time=0.2, p_adv=0.25, p_neg=0.25, p_name=0.35, p_count=0.15,
                          p_category=0.1, p_prop=0.25, p_isa=0.08, p_two=0.4, p_intj=0.05)


def tagging_item(world: World, rng: random.Random, topic: int, shared: bool = True) -> Sentence:
    """A sentence with every construction the tag sets need (statements, questions, two clauses)."""
    s = Sampler(world, rng, TAGGING_PROFILE if shared else CCG_OWN_PROFILE)
    sent = s.sentence(topic)
    if len(sent.clauses) == 1 and sent.clauses[0].kind == EVENT and rng.random() < (0.12 if shared else 0.25):
        return Sentence((_question(s, sent.clauses[0]),))
    return sent


NER_TYPES = ("person", "organisation", "place")
NER_PROFILE = replace(TAGGING_PROFILE, p_name=0.12, p_two=0.15, p_prop=0.05, p_isa=0.0)


def ner_item(world: World, rng: random.Random, label: int, topic: int) -> Sentence:
    """A sentence that mentions at least one named entity of type `NER_TYPES[label]`."""
    s = Sampler(world, rng, NER_PROFILE)
    etype = NER_TYPES[label]
    entity = NP(NAME, world.entity_tables[(etype, topic)].sample(rng))
    if etype == "place":
        c = replace(s.event(topic), loc=entity)
    else:
        frames = [v for v in world.verbs if v.subj == etype or v.obj == etype]
        verb = rng.choice(frames)
        c = s.event(topic, verb=verb.id)
        c = replace(c, subj=entity) if verb.subj == etype and (verb.obj != etype or rng.random() < 0.5) \
            else replace(c, obj=entity)
    if c.obj is not None and (same_np(c.subj, c.obj) or same_np(c.obj, c.loc)):
        c = replace(c, obj=s.np(np_type(world, c.obj), topic, name=False))
    if rng.random() < NER_PROFILE.p_two:
        return Sentence((c, s.clause(topic)), FW["and"])
    return Sentence((c,))


# ------------------------------------------------------------------------------------------------ QA

QA_PROFILE = Profile(p_adj=0.3, p_loc=0.5, p_time=0.45, p_adv=0.1, p_neg=0.1, p_name=0.55, p_count=0.05,
                     p_category=0.05)
QA_ROLES = ("subj", "obj", "loc", "time")
QA_ROLE_WEIGHTS_TARGET = (1.0, 1.0, 1.0, 1.0)
QA_ROLE_WEIGHTS_OWN = (0.4, 0.4, 0.1, 0.1)


def qa_item(world: World, rng: random.Random, topic: int, shared: bool, answerable: bool = True) -> QAItem:
    """A short topical context and a question about one argument or adjunct of one of its sentences.

    The question names the sentence's verb and some of its other parts so that exactly one sentence
    matches; the context always holds another candidate of the answer's kind. Unanswerable questions
    change the verb or an argument so that no sentence matches."""
    s = Sampler(world, rng, QA_PROFILE)
    weights = QA_ROLE_WEIGHTS_TARGET if shared else QA_ROLE_WEIGHTS_OWN
    for attempt in range(1000):
        n = rng.randint(3, 5)
        clauses = [s.event(topic if attempt < 500 else -1) for _ in range(n)]
        for _ in range(4):  # a few questions about each context before drawing another
            role = rng.choices(QA_ROLES, weights)[0]
            j = rng.randrange(n)
            c = clauses[j]
            if not _has_role(c, role) or _candidates(world, clauses, c, role) < 2:
                continue
            q = _qa_question(s, c, role)
            if not answerable:
                q = _unanswerable(s, q, clauses, topic)
                if q is None:
                    continue
            if [k for k, other in enumerate(clauses) if _matches(world, q, other)] == ([j] if answerable else []):
                break
        else:
            continue
        # Fronted adjuncts move answers around within sentences, so position alone says little.
        clauses = [_fronted(rng, x) if rng.random() < 0.5 else x for x in clauses]
        # Half the contexts open with a description that no question is about.
        intro = [s.prop(topic)] if rng.random() < 0.5 else []
        return QAItem(tuple(Sentence((x,)) for x in intro + clauses), Sentence((q,)),
                      (j + len(intro), role) if answerable else None, topic)
    raise RuntimeError("no QA item found")


def _has_role(c: Clause, role: str) -> bool:
    return {"subj": True, "obj": c.obj is not None, "loc": c.loc is not None, "time": bool(c.year)}[role]


def _candidates(world: World, clauses: list[Clause], c: Clause, role: str) -> int:
    """How many distinct things in the context could answer a question about `role` of `c`."""
    if role == "time":
        return len({x.year for x in clauses if x.year})
    if role == "loc":
        return len({(x.loc.kind, x.loc.ref) for x in clauses if x.loc is not None})
    etype = np_type(world, getattr(c, role))
    found = set()
    for x in clauses:
        for np in (x.subj, x.obj):
            if np is not None and np_type(world, np) == etype:
                found.add((np.kind, np.ref, np.adjs))
    return len(found)


def _qa_question(s: Sampler, c: Clause, role: str) -> Clause:
    rng, world = s.rng, s.world
    q = replace(c, adv=-1, front=0)
    # Questions drop some adjuncts they do not ask about, so they do not copy the sentence.
    if role != "loc" and rng.random() < 0.5:
        q = replace(q, loc=None)
    if role != "time" and rng.random() < 0.5:
        q = replace(q, year=0)
    if role == "subj":
        return replace(q, subj=question_np(np_type(world, c.subj)), wh=WH_SUBJ)
    if role == "obj":
        return replace(q, obj=question_np(np_type(world, c.obj)), wh=WH_OBJ)
    if role == "loc":
        return replace(q, loc=None, wh=WH_LOC)
    return replace(q, year=0, wh=WH_TIME)


def _matches(world: World, q: Clause, c: Clause) -> bool:
    """Whether sentence `c` answers question `q` (same verb meaning and polarity, same named parts)."""
    if c.kind != EVENT or world.verb_of_key[q.pred] != world.verb_of_key[c.pred] or q.neg != c.neg:
        return False
    if q.wh == WH_LOC and c.loc is None or q.wh == WH_TIME and not c.year:
        return False
    if q.wh == WH_OBJ and c.obj is None:
        return False
    if q.wh != WH_SUBJ and not _same_referent(q.subj, c.subj):
        return False
    if q.wh != WH_OBJ and q.obj is not None and not _same_referent(q.obj, c.obj):
        return False
    if q.loc is not None and not _same_referent(q.loc, c.loc):
        return False
    return not (q.year and q.year != c.year)


def _same_referent(a: NP | None, b: NP | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.kind, a.ref, a.adjs) == (b.kind, b.ref, b.adjs)


def _unanswerable(s: Sampler, q: Clause, clauses: list[Clause], topic: int) -> Clause | None:
    """`q` with its verb or a named argument changed so that no sentence of the context matches."""
    world, rng = s.world, s.rng
    verb = world.verbs[world.verb_of_key[q.pred]]
    same_frame = [v for v in world.frame_verbs[(verb.subj, verb.obj)] if v != verb.id]
    if same_frame and rng.random() < 0.6:
        q = replace(q, pred=rng.choice(world.verbs[rng.choice(same_frame)].keys))
    else:
        slot = "obj" if q.wh == WH_SUBJ and q.obj is not None else "subj"
        if q.wh == WH_SUBJ and q.obj is None:
            return None
        np = getattr(q, slot)
        q = replace(q, **{slot: s.np(np_type(world, np), topic)})
    return None if any(_matches(world, q, c) for c in clauses) else q


# ------------------------------------------------------------------------------------ commonsense

CHOICE_PROFILE = Profile(p_adj=0.35, p_loc=0.2, p_time=0.1, p_adv=0.0, p_neg=0.0, p_name=0.5, p_count=0.0,
                         p_category=0.0)


def choice_item(world: World, rng: random.Random, label: int, topic: int) -> ChoiceItem:
    """A script-knowledge completion: after `X v O .`, `then X succ(v) O .` is right; the distractors
    keep the successor verb with another object, or the object with another verb of the same frame."""
    s = Sampler(world, rng, CHOICE_PROFILE)
    scripted = [v for v in world.verbs if v.successor >= 0]
    verb = max(scripted, key=lambda v: v.weight * (3.0 if v.topic == topic else 1.0) * rng.random())
    first = replace(s.event(topic, verb=verb.id), loc=None, year=0)
    context = (Sentence((s.event(topic),)),) if rng.random() < 0.5 else ()
    context += (Sentence((first,)),)
    subj = first.subj
    if subj.kind == NAME and subj.ref >= 0 and world.entities[subj.ref].type == "person" and rng.random() < 0.5:
        subj = NP(PRON, subj.ref, world.entities[subj.ref].pronoun)
    elif subj.kind == COMMON:
        subj = replace(subj, definite=True)
    obj = replace(first.obj, definite=True) if first.obj.kind == COMMON else first.obj
    successor = world.verbs[verb.successor]
    others = [world.verbs[v] for v in world.frame_verbs[(verb.subj, verb.obj)]
              if v not in (verb.id, successor.id, successor.antonym)] or \
             [v for v in world.verbs if v.obj == verb.obj and v.id not in (verb.id, successor.id)] or \
             [v for v in world.verbs if v.id not in (verb.id, successor.id)]
    objects = []
    while len(objects) < 2:
        other = s.np(verb.obj, topic, adj=bool(obj.adjs) if obj.kind == COMMON else None)
        other = replace(other, definite=True) if other.kind == COMMON else other
        if not _same_referent(other, obj) and not (other.kind == obj.kind == COMMON and other.ref == obj.ref) \
                and all(not _same_referent(other, o) for o in objects):
            objects.append(other)
    picks = [(successor, obj), (successor, objects[0]), (rng.choice(others), obj), (rng.choice(others), objects[1])]
    endings = [Sentence((Clause(EVENT, subj, rng.choice(v.keys), o),), intj=FW["then"]) for v, o in picks]
    wrong = endings[1:]
    rng.shuffle(wrong)
    wrong.insert(label, endings[0])
    return ChoiceItem(context, tuple(wrong), label, topic)


# ---------------------------------------------------------------------------------------- retrieval

RETRIEVAL_PROFILE = Profile(p_adj=0.45, p_loc=0.4, p_time=0.25, p_adv=0.15, p_neg=0.15, p_name=0.45,
                            p_count=0.08, p_prop=0.15, p_isa=0.05, p_two=0.2, p_intj=0.02)


def retrieval_item(world: World, rng: random.Random, topic: int) -> Sentence:
    """A sentence to be translated (tatoeba, bucc)."""
    return Sampler(world, rng, RETRIEVAL_PROFILE).sentence(topic)


__all__ = ["CONTRADICTION", "ChoiceItem", "ENTAILMENT", "NER_TYPES", "NEUTRAL", "PairItem", "QAItem",
           "choice_item", "ner_item", "nli_item", "paws_item", "qa_item", "qqp_item", "retrieval_item",
           "sst_item", "tagging_item"]
