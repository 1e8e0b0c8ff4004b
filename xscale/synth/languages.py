"""Languages as realisers of MRs: a closed registry of grammars plus per-language lexicons.

Each language spells every key of the world with its own pseudo-words (drawn from its own syllable
inventory, globally unique), except the shared anchors: punctuation, numbers, the shared part of the
names and `near`'s loanwords from `en`; `inv`, written in its own script, shares none of them.
Realisation returns word tokens with an alignment to MR nodes, so POS and NER tags, CCG categories and
answer spans are computed, never guessed, in every language.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from xscale.synth.config import SynthConfig
from xscale.synth.mr import (COMMON, EVENT, FRONT_LOC, FRONT_TIME, NAME, NP, PRON, PROP, WH, WH_LOC,
                             WH_OBJ, WH_SUBJ, WH_TIME, WH_YN, Clause, Sentence)
from xscale.synth.world import (FUNCTION_WORDS, FW, K_AMP, K_COMMA, K_PERIOD, K_QMARK, NER_OF_TYPE,
                                PUNCTUATION, QUANTITIES, YEARS, World, quantity_key, rng_for, year_key)


@dataclass(frozen=True)
class LanguageSpec:
    """The grammar of one language and the syllables its words are made of."""

    code: str
    description: str
    syllables: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    """Onsets, nuclei and codas of the language's pseudo-words ("" allowed)."""
    order: str = "SVO"
    """Clause word order: "SVO", "VSO" or "SOV"."""
    adj_after_noun: bool = False
    articles: tuple[str, ...] = ("the", "a")
    """The articles the language has: English has both; a language with only `a` (like Turkish `bir`)
    leaves definite nouns bare."""
    postpositions: bool = False
    case_markers: bool = False
    """Differential object marking, as in Turkish: a definite object (a name, a pronoun, a question word or
    a definite common noun) is followed by the accusative token `acc`; subjects and indefinite objects
    are unmarked."""
    question_particle: bool = False
    """Questions are marked by the particle `q` instead of the auxiliary `did`."""
    reverse: bool = False
    """The English token order reversed."""
    loans_from_en: bool = False
    """Borrows `loanword_fraction` of its content words from `en`, spelled as in `en`."""
    own_script: bool = False
    """Shares no anchor with the other languages, as a language written in another script: its own
    punctuation marks and digits (`OWN_SCRIPT`), every name respelled whatever `name_sharing` says, and
    no code-switching with the other languages in the corpus."""


def _syllables(onsets: str, nuclei: str, codas: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Space-separated inventories; "-" stands for the empty string."""
    def split(text: str) -> tuple[str, ...]:
        return tuple("" if t == "-" else t for t in text.split())
    return split(onsets), split(nuclei), split(codas)


LANGUAGE_SPECS: dict[str, LanguageSpec] = {
    "en": LanguageSpec(
        "en", "English-like: SVO, articles, adjective before noun, prepositions, English function words",
        _syllables("b bl br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr r s sh sk sl sp st sw t th tr v w",
                   "a e i o u ai ea ee oa oo ou", "- - b ck d ft g k l m mp n nd ng nt p r rd rn s sh st t x")),
    "clone": LanguageSpec(
        "clone", "English grammar with a new lexicon (the ceiling of transfer)",
        _syllables("k z v ts dz q kh gh zl vr kr", "ae oe y ui aa ii", "- - k z x q zk")),
    "near": LanguageSpec(
        "near", "English grammar, adjective after noun, new lexicon with loanwords from en",
        _syllables("b d f g l m n p r s t v gn", "a e i o u ia io ue", "- - - n s r l"),
        adj_after_noun=True, loans_from_en=True),
    "vso": LanguageSpec(
        "vso", "verb-subject-object, adjective after noun, prepositions, question particle",
        _syllables("bh dh gh mh ll rh c f sg", "ao ei ua iu oi", "- dd ch th nn"),
        order="VSO", adj_after_noun=True, question_particle=True),
    "sov": LanguageSpec(
        "sov", "subject-object-verb, postpositions, indefinite article only, accusative marker on definite "
        "objects, question particle",
        _syllables("k s t n h m y r w g z d b p sh ch ts", "a i u e o", "- - - n"),
        order="SOV", articles=("a",), postpositions=True, case_markers=True, question_particle=True),
    "inv": LanguageSpec(
        "inv", "English word order reversed, new lexicon in its own script: no shared punctuation, digits or "
        "names (the floor of transfer)",
        _syllables("sk tl xh pt fn", "ä ö ü å ø", "- lk rx"), reverse=True, own_script=True),
}
"""The closed registry of languages (keys are the language codes of `config.LANGUAGES`)."""

OWN_SCRIPT = str.maketrans({".": "\u0964", "?": "\u2e2e", ",": "\u060c", "&": "\u204a",
                            **{str(d): chr(0x0966 + d) for d in range(10)}})
"""Punctuation and digits of an `own_script` language (Devanagari danda and digits, a reversed question
mark, the Arabic comma, the Tironian et): one symbol for each shared one, so numbers keep their values."""

_NAME_SYLLABLES = _syllables("b d f g h j k l m n p r s t v z", "a e i o u ia", "- - - n l r s")
"""Syllables of the shared spellings of names (capitalised)."""


@dataclass(frozen=True)
class Lexicon:
    """A language's spelling of every key; None where the language has no such word."""

    code: str
    forms: tuple[str | None, ...]


def has_key(spec: LanguageSpec, gloss: str) -> bool:
    """Whether a language has the function word `gloss`."""
    if gloss in ("the", "a"):
        return gloss in spec.articles
    if gloss == "did":
        return not spec.question_particle
    if gloss == "q":
        return spec.question_particle
    if gloss == "nom":
        return False  # kept in FUNCTION_WORDS as the subject role; no language marks subjects
    if gloss == "acc":
        return spec.case_markers
    return True


def object_marked(np: NP) -> bool:
    """Whether differential object marking (`LanguageSpec.case_markers`) marks `np` as an object: names,
    pronouns, question words and definite common nouns."""
    return np.kind != COMMON or np.definite


class _WordMaker:
    """Pseudo-words from a syllable inventory, unique across all languages (`used` is shared)."""

    def __init__(self, syllables: tuple[tuple[str, ...], ...], rng: random.Random, used: set[str]):
        self.onsets, self.nuclei, self.codas = syllables
        self.rng = rng
        self.used = used

    def make(self, n_syllables: int, capital: bool = False) -> str:
        rng = self.rng
        for attempt in range(1000):
            n = n_syllables + attempt // 50
            word = "".join(rng.choice(self.onsets) + rng.choice(self.nuclei) for _ in range(n))
            word += rng.choice(self.codas)
            if capital:
                word = word[0].upper() + word[1:]
            if word not in self.used:
                self.used.add(word)
                return word
        raise RuntimeError("syllable inventory exhausted")

    def content(self) -> str:
        r = self.rng.random()
        return self.make(1 if r < 0.25 else 2 if r < 0.85 else 3)


def build_lexicons(world: World, config: SynthConfig, seed: int) -> dict[str, Lexicon]:
    """Spell every key in every configured language (always in registry order, for determinism)."""
    used = {gloss for gloss, _ in FUNCTION_WORDS} | {form for form, _ in PUNCTUATION}
    used |= {str(n) for n in QUANTITIES + YEARS}
    name_maker = _WordMaker(_NAME_SYLLABLES, rng_for(seed, "names"), used)
    shared = {k: name_maker.make(2, capital=True) for k in sorted(world.shared_names)}
    lexicons: dict[str, Lexicon] = {}
    for code in (c for c in LANGUAGE_SPECS if c in config.languages):
        spec = LANGUAGE_SPECS[code]
        rng = rng_for(seed, "lexicon", code)
        maker = _WordMaker(spec.syllables, rng, used)
        en = lexicons.get("en")
        forms: list[str | None] = []
        for key, kind in enumerate(world.key_kind):
            if kind == "func":
                gloss = world.key_gloss[key]
                if not has_key(spec, gloss):
                    forms.append(None)
                else:
                    forms.append(gloss if code == "en" else maker.make(1))
            elif kind in ("punct", "num"):
                gloss = world.key_gloss[key]
                forms.append(gloss.translate(OWN_SCRIPT) if spec.own_script else gloss)
            elif kind == "name":
                own = key not in shared or spec.own_script
                forms.append(maker.make(2, capital=True) if own else shared[key])
            elif kind == "orghead":
                forms.append(maker.make(2, capital=True))
            elif spec.loans_from_en and en is not None and rng.random() < config.loanword_fraction:
                forms.append(en.forms[key])
            else:
                forms.append(maker.content())
        # Some verbs are spelled like a noun (like English "run"): POS tags need context.
        verbs = [k for k, kind in enumerate(world.key_kind) if kind == "verb"]
        nouns = [k for k, kind in enumerate(world.key_kind) if kind == "noun"]
        n_homographs = min(round(config.homograph_fraction * len(verbs)), len(nouns))
        for verb, noun in zip(rng.sample(verbs, n_homographs), rng.sample(nouns, n_homographs)):
            forms[verb] = forms[noun]
        lexicons[code] = Lexicon(code, tuple(forms))
    return lexicons


Tok = tuple[int, str, str, str, str]
"""A realised token: (key, MR node, grammatical role, NER type or "", NER span node or "")."""


class Realiser:
    """Realises MRs in one language as word tokens aligned to MR nodes."""

    def __init__(self, world: World, spec: LanguageSpec, lexicon: Lexicon):
        self.world = world
        self.spec = spec
        self.forms = lexicon.forms
        self.code = spec.code

    def words(self, tokens: list[Tok]) -> list[str]:
        forms = self.forms
        return [forms[t[0]] for t in tokens]  # type: ignore[misc]

    def text(self, sentence: Sentence) -> str:
        return " ".join(self.words(self.sentence(sentence)))

    def sentence(self, s: Sentence) -> list[Tok]:
        toks: list[Tok] = []
        if s.intj == FW["then"]:
            toks.append((s.intj, "then", "then", "", ""))
        elif s.intj >= 0:
            toks.append((s.intj, "intj", "intj", "", ""))
            toks.append((K_COMMA, "intj.comma", "comma", "", ""))
        toks += self.clause(s.clauses[0], "c0")
        if len(s.clauses) > 1:
            toks.append((s.conn, "conn", "conj" if s.conn == FW["and"] else "sconj", "", ""))
            toks += self.clause(s.clauses[1], "c1")
        toks.append((K_QMARK if s.clauses[0].wh else K_PERIOD, "end", "punct", "", ""))
        if self.spec.reverse:
            toks.reverse()
        return toks

    def np(self, np: NP, node: str, case: int, role: str = "noun") -> list[Tok]:
        """`case` is the NP's role: `FW["nom"]` for a subject, `FW["acc"]` for an object, -1 otherwise."""
        spec = self.spec
        if np.kind == NAME:
            entity = self.world.entities[np.ref]
            ent = NER_OF_TYPE[entity.type]
            last = len(entity.parts) - 1
            toks = [(k, f"{node}.n{i}", "sym" if k == K_AMP else ("name_last" if i == last else "name_mid"),
                     ent, node) for i, k in enumerate(entity.parts)]
        elif np.kind == COMMON:
            toks = []
            article = "the" if np.definite else "a"
            if article in spec.articles:
                toks.append((FW[article], node + ".det", "det", "", ""))
            if np.count > 1:
                toks.append((quantity_key(np.count), node + ".num", "num", "", ""))
            noun = (np.key, node + ".noun", role, "", "")
            adjs = [(a, f"{node}.adj{i}", "adj", "", "") for i, a in enumerate(np.adjs)]
            toks += ([noun] + adjs) if spec.adj_after_noun else (adjs + [noun])
        elif np.kind == PRON:
            toks = [(np.key, node + ".pron", "pron", "", "")]
        else:
            toks = [(np.key, node + ".wh", "wh_subj" if case == FW["nom"] else "wh_obj", "", "")]
        if spec.case_markers and case == FW["acc"] and object_marked(np):
            toks.append((case, node + ".case", "case", "", ""))
        return toks

    def _adp(self, node: str, front: bool) -> Tok:
        return (FW["in"], node + ".adp", "adp_front" if front else "adp", "", "")

    def clause(self, c: Clause, p: str) -> list[Tok]:
        spec, order = self.spec, self.spec.order
        wh = c.wh
        neg = [(FW["not"], p + ".neg", "neg", "", "")] if c.neg else []
        if c.kind != EVENT:
            subj = self.np(c.subj, p + ".subj", FW["nom"])
            cop = [(FW["is"], p + ".cop", "cop_adj" if c.kind == PROP else "cop_np", "", "")]
            if c.kind == PROP:
                pred = [(c.pred, p + ".pred", "adj_pred", "", "")]
            else:
                pred = self.np(NP(COMMON, self.world.noun_of_key[c.pred], c.pred, (), False), p + ".pred", -1,
                               "noun")
            if order == "SVO":
                return subj + cop + neg + pred
            if order == "VSO":
                return neg + cop + subj + pred
            return subj + pred + cop + neg

        subj = self.np(c.subj, p + ".subj", FW["nom"])
        obj = self.np(c.obj, p + ".obj", FW["acc"]) if c.obj is not None else []
        verb = [(c.pred, p + ".verb", "verb_t" if c.obj is not None else "verb_i", "", "")]
        adv = [(c.adv, p + ".adv", "adv", "", "")] if c.adv >= 0 else []
        loc: list[Tok] = []
        if c.loc is not None:
            pnp = self.np(c.loc, p + ".loc", -1)
            adp = self._adp(p + ".loc", c.front == FRONT_LOC)
            loc = pnp + [adp] if spec.postpositions else [adp] + pnp
        time: list[Tok] = []
        if c.year:
            year = (year_key(c.year), p + ".time.year", "year", "", "")
            adp = self._adp(p + ".time", c.front == FRONT_TIME)
            time = [year, adp] if spec.postpositions else [adp, year]
        if wh == WH_LOC:
            loc = [(FW["where"], p + ".loc.wh", "wh_adv", "", "")]
        elif wh == WH_TIME:
            time = [(FW["when"], p + ".time.wh", "wh_adv", "", "")]
        front: list[Tok] = []
        if c.front == FRONT_LOC and not wh:
            front, loc = loc, []
        elif c.front == FRONT_TIME and not wh:
            front, time = time, []

        if order == "SOV":
            # Questions keep the question word in place and end in the particle `q`.
            out = front + subj + loc + time + obj + adv + verb + neg
            if wh:
                out.append((FW["q"], p + ".q", "q", "", ""))
            return out
        if order == "VSO":
            if not wh:
                return front + neg + verb + subj + obj + adv + loc + time
            if wh == WH_SUBJ:
                return subj + neg + verb + obj + adv + loc + time
            if wh == WH_OBJ:
                return obj + neg + verb + subj + adv + loc + time
            if wh == WH_YN:
                return [(FW["q"], p + ".q", "q_front", "", "")] + neg + verb + subj + obj + adv + loc + time
            wh_tok = loc if wh == WH_LOC else time
            rest = time if wh == WH_LOC else loc
            return wh_tok + neg + verb + subj + obj + adv + rest
        # SVO (en, clone, near; inv reverses the result)
        if not wh:
            return front + subj + neg + verb + obj + adv + loc + time
        if wh == WH_SUBJ:
            return subj + neg + verb + obj + adv + loc + time
        verb = [(c.pred, p + ".verb", "verb_bt" if c.obj is not None else "verb_bi", "", "")]
        aux = [(FW["did"], p + ".aux", "aux_q", "", "")]
        if wh == WH_OBJ:
            return obj + aux + subj + neg + verb + adv + loc + time
        if wh == WH_YN:
            return aux + subj + neg + verb + obj + adv + loc + time
        wh_tok = loc if wh == WH_LOC else time
        rest = time if wh == WH_LOC else loc
        return wh_tok + aux + subj + neg + verb + obj + adv + rest


def question_np(etype: str) -> NP:
    """The question word NP asking for an argument of type `etype`."""
    return NP(WH, key=FW["who"] if etype == "person" else FW["what"])


__all__ = ["LANGUAGE_SPECS", "LanguageSpec", "Lexicon", "Realiser", "Tok", "build_lexicons", "has_key",
           "question_np"]
