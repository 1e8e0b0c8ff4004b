"""The task registry: Hub-compatible features and splits, and the realisation of items as rows.

Items (meanings and labels, `items.py`) are generated once per split from (seed, task, split, index)
and realised in each language, so a test split in every language is a perfect translation of the
English one. Row i of a train split depends only on i, so the first ceil(f*N) rows are the fraction-f
subset and fractions nest.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from xscale.synth import items as it
from xscale.synth.config import TRAINED_TARGET_TASKS, SynthConfig
from xscale.synth.languages import LANGUAGE_SPECS, LanguageSpec, Lexicon, Realiser, Tok
from xscale.synth.mr import Sentence
from xscale.synth.world import World, rng_for

UPOS_TAGS: tuple[str, ...] = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
                              "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
NER_TAGS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


@dataclass
class Ctx:
    """What item generators and renderers share for one benchmark."""

    world: World
    config: SynthConfig
    seed: int
    realisers: dict[str, Realiser]
    target_topics: tuple[int, ...]
    intermediate_topics: tuple[int, ...]


def make_ctx(world: World, lexicons: dict[str, Lexicon], config: SynthConfig, seed: int) -> Ctx:
    # Target tasks draw from the first half of the topics; intermediate tasks draw from the second
    # half unless an item is "shared" (probability task_overlap), which keeps a domain shift between them.
    half = max(1, world.n_topics // 2)
    target = tuple(range(half))
    intermediate = tuple(range(half, world.n_topics)) or target
    realisers = {code: Realiser(world, LANGUAGE_SPECS[code], lexicons[code]) for code in config.languages}
    return Ctx(world, config, seed, realisers, target, intermediate)


# ------------------------------------------------------------------------------------------ CCG

CCG_ROLES = ("intj", "comma", "conj", "sconj", "punct", "det", "num", "noun", "adj", "pron", "wh_subj", "wh_obj",
             "wh_adv", "name_mid", "name_last", "sym", "case", "adp", "adp_front", "year", "verb_t", "verb_i",
             "verb_bt", "verb_bi", "neg", "adv", "cop_adj", "cop_np", "adj_pred", "aux_q", "q", "q_front", "then")
"""Every grammatical role the realiser emits."""

_CCG_SVO = {
    "intj": "S/S", "comma": ",", "conj": "conj", "sconj": "(S\\S)/S[dcl]", "punct": ".", "det": "NP/N",
    "num": "N/N", "noun": "N", "adj": "N/N", "pron": "NP", "wh_subj": "S[wq]/(S[dcl]\\NP)",
    "wh_obj": "S[wq]/(S[q]/NP)", "wh_adv": "S[wq]/S[q]", "name_mid": "N/N", "name_last": "N", "sym": "conj",
    "case": "NP\\NP", "adp": "((S\\NP)\\(S\\NP))/NP", "adp_front": "(S/S)/NP", "year": "N",
    "verb_t": "(S[dcl]\\NP)/NP", "verb_i": "S[dcl]\\NP", "verb_bt": "(S[b]\\NP)/NP", "verb_bi": "S[b]\\NP",
    "neg": "(S\\NP)/(S\\NP)", "adv": "(S\\NP)\\(S\\NP)", "cop_adj": "(S[dcl]\\NP)/(S[adj]\\NP)",
    "cop_np": "(S[dcl]\\NP)/NP", "adj_pred": "S[adj]\\NP", "aux_q": "(S[q]/(S[b]\\NP))/NP", "q": "S[q]\\S[dcl]",
    "q_front": "S[q]/S[dcl]", "then": "S/S",
}
_CCG_VSO = {"verb_t": "(S[dcl]/NP)/NP", "verb_i": "S[dcl]/NP", "neg": "S/S", "cop_adj": "(S[dcl]/(S[adj]\\NP))/NP",
            "cop_np": "(S[dcl]/NP)/NP", "adv": "S\\S", "adp": "(S\\S)/NP", "wh_subj": "S[wq]/(S[dcl]/NP)",
            "wh_obj": "S[wq]/(S[dcl]/NP)", "wh_adv": "S[wq]/S[dcl]"}
_CCG_SOV = {"verb_t": "(S[dcl]\\NP)\\NP", "neg": "S\\S", "cop_adj": "(S[dcl]\\NP)\\(S[adj]\\NP)",
            "cop_np": "(S[dcl]\\NP)\\NP", "adv": "(S\\NP)/(S\\NP)", "adp": "((S\\NP)/(S\\NP))\\NP",
            "adp_front": "(S/S)\\NP", "wh_subj": "NP", "wh_obj": "NP", "wh_adv": "(S\\NP)/(S\\NP)"}


def _flip(category: str) -> str:
    return category.translate(str.maketrans("/\\", "\\/"))


def ccg_tag(role: str, spec: LanguageSpec) -> str:
    """The CCG supertag of a token with grammatical `role` in a language (a function of the grammar)."""
    tag = _CCG_SVO[role]
    if spec.order == "VSO":
        tag = _CCG_VSO.get(role, tag)
    elif spec.order == "SOV":
        tag = _CCG_SOV.get(role, tag)
    if role == "adj" and spec.adj_after_noun:
        tag = "N\\N"
    if spec.reverse:
        tag = _flip(tag)
    return tag


CCG_TAGS: tuple[str, ...] = tuple(sorted({ccg_tag(role, spec) for role in CCG_ROLES
                                          for spec in LANGUAGE_SPECS.values()}))
"""The CCG tag set (ClassLabel names), the same for every seed and language."""
_CCG_INDEX = {tag: i for i, tag in enumerate(CCG_TAGS)}
_UPOS_INDEX = {tag: i for i, tag in enumerate(UPOS_TAGS)}
_NER_INDEX = {tag: i for i, tag in enumerate(NER_TAGS)}


def iob_tags(tokens: list[Tok]) -> list[str]:
    """IOB2 tags of realised tokens (a new span starts wherever the NER span node changes)."""
    tags, previous = [], ""
    for _, _, _, ent, span in tokens:
        if not ent:
            tags.append("O")
            previous = ""
        else:
            tags.append(("I-" if span == previous else "B-") + ent)
            previous = span
    return tags


# --------------------------------------------------------------------------------------- features

def features(name: str):
    """The `datasets.Features` of task `name` (the Hub dataset's column names and types)."""
    from datasets import ClassLabel, Features, List, Value

    string, int32 = Value("string"), Value("int32")
    answers = {"text": List(string), "answer_start": List(int32)}
    table = {
        "mnli": {"premise": string, "hypothesis": string, "label": ClassLabel(names=list(NLI_LABELS)), "idx": int32},
        "xnli": {"premise": string, "hypothesis": string, "label": ClassLabel(names=list(NLI_LABELS))},
        "qqp": {"question1": string, "question2": string,
                "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": int32},
        "sst2": {"sentence": string, "label": ClassLabel(names=["negative", "positive"]), "idx": int32},
        "pawsx": {"id": int32, "sentence1": string, "sentence2": string, "label": ClassLabel(names=["0", "1"])},
        "udpos": {"tokens": List(string), "pos_tags": List(ClassLabel(names=list(UPOS_TAGS)))},
        "panx": {"tokens": List(string), "ner_tags": List(ClassLabel(names=list(NER_TAGS))), "langs": List(string)},
        "ccg": {"tokens": List(string), "ccg_tags": List(ClassLabel(names=list(CCG_TAGS)))},
        "squad": {"id": string, "title": string, "context": string, "question": string, "answers": answers},
        "hellaswag": {"ind": int32, "activity_label": string, "ctx_a": string, "ctx_b": string, "ctx": string,
                      "endings": List(string), "source_id": string, "split": string, "split_type": string,
                      "label": string},
        "tatoeba": {"source_sentence": string, "target_sentence": string, "source_lang": string,
                    "target_lang": string},
        "bucc": {"id": string, "lang": string, "sentence": string, "gold": string},
    }
    table["squad_v2"] = table["xquad"] = table["squad"]
    return Features(table[name])



# ------------------------------------------------------------------------------------------ tasks

Item = Any


@dataclass(frozen=True)
class TaskDef:
    """One task: how its items are made (labels balanced over `n_labels`) and realised as rows."""

    name: str
    role: str
    n_labels: int
    make: Callable[[Ctx, random.Random, int, int, bool], Item]
    render: Callable[[Ctx, Item, str, str, int], dict[str, Any]]


def _text(ctx: Ctx, lang: str, sentence: Sentence) -> str:
    return ctx.realisers[lang].text(sentence)


def _render_nli(ctx: Ctx, item: it.PairItem, lang: str, split: str, i: int) -> dict[str, Any]:
    return {"premise": _text(ctx, lang, item.first), "hypothesis": _text(ctx, lang, item.second),
            "label": item.label}


def _render_mnli(ctx: Ctx, item: it.PairItem, lang: str, split: str, i: int) -> dict[str, Any]:
    return {**_render_nli(ctx, item, lang, split, i), "idx": i}


def _render_qqp(ctx: Ctx, item: it.PairItem, lang: str, split: str, i: int) -> dict[str, Any]:
    return {"question1": _text(ctx, lang, item.first), "question2": _text(ctx, lang, item.second),
            "label": item.label, "idx": i}


def _render_pawsx(ctx: Ctx, item: it.PairItem, lang: str, split: str, i: int) -> dict[str, Any]:
    return {"id": i, "sentence1": _text(ctx, lang, item.first), "sentence2": _text(ctx, lang, item.second),
            "label": item.label}


def _render_sst2(ctx: Ctx, item: Sentence, lang: str, split: str, i: int) -> dict[str, Any]:
    return {"sentence": _text(ctx, lang, item), "label": _sst_label(ctx, item), "idx": i}


def _sst_label(ctx: Ctx, sentence: Sentence) -> int:
    """Sentiment from the MR: the main predicate's polarity, flipped by negation."""
    world = ctx.world
    c = sentence.clauses[0]
    polarity = (world.verbs[world.verb_of_key[c.pred]].polarity if c.pred in world.verb_of_key
                else world.adjectives[world.adj_of_key[c.pred]].polarity)
    return int(polarity * (-1 if c.neg else 1) > 0)


def _render_udpos(ctx: Ctx, item: Sentence, lang: str, split: str, i: int) -> dict[str, Any]:
    realiser = ctx.realisers[lang]
    toks = realiser.sentence(item)
    upos = ctx.world.key_upos
    return {"tokens": realiser.words(toks), "pos_tags": [_UPOS_INDEX[upos[t[0]]] for t in toks]}


def _render_panx(ctx: Ctx, item: Sentence, lang: str, split: str, i: int) -> dict[str, Any]:
    realiser = ctx.realisers[lang]
    toks = realiser.sentence(item)
    return {"tokens": realiser.words(toks), "ner_tags": [_NER_INDEX[t] for t in iob_tags(toks)],
            "langs": [lang] * len(toks)}


def _render_ccg(ctx: Ctx, item: Sentence, lang: str, split: str, i: int) -> dict[str, Any]:
    realiser = ctx.realisers[lang]
    toks = realiser.sentence(item)
    return {"tokens": realiser.words(toks), "ccg_tags": [_CCG_INDEX[ccg_tag(t[2], realiser.spec)] for t in toks]}


_NOT_IN_ANSWER = (".det", ".case", ".adp")


def answer_tokens(tokens: list[Tok], role: str) -> list[int]:
    """Indices of the tokens that answer a question about `role` (the phrase without article,
    adposition or case marker; contiguous in every language)."""
    prefix = f"c0.{role}."
    return [k for k, t in enumerate(tokens) if t[1].startswith(prefix) and not t[1].endswith(_NOT_IN_ANSWER)]


def _render_qa(ctx: Ctx, item: it.QAItem, lang: str, split: str, i: int, name: str) -> dict[str, Any]:
    realiser = ctx.realisers[lang]
    words: list[str] = []
    span = None
    for j, sentence in enumerate(item.context):
        toks = realiser.sentence(sentence)
        if item.answer is not None and item.answer[0] == j:
            idx = answer_tokens(toks, item.answer[1])
            assert idx and idx[-1] - idx[0] + 1 == len(idx), "answer span must be contiguous"
            span = (len(words) + idx[0], len(words) + idx[-1] + 1)
        words += realiser.words(toks)
    answers: dict[str, list] = {"text": [], "answer_start": []}
    if span is not None:
        answers = {"text": [" ".join(words[span[0]:span[1]])],
                   "answer_start": [sum(len(w) + 1 for w in words[:span[0]])]}
    title = realiser.forms[ctx.world.topic_anchor[item.topic]]
    return {"id": f"{name}-{split}-{i:06d}", "title": title, "context": " ".join(words),
            "question": _text(ctx, lang, item.question), "answers": answers}


def _render_hellaswag(ctx: Ctx, item: it.ChoiceItem, lang: str, split: str, i: int) -> dict[str, Any]:
    realiser = ctx.realisers[lang]
    ctx_a = " ".join(realiser.text(s) for s in item.context)
    endings = [realiser.words(realiser.sentence(e)) for e in item.endings]
    # The shared start of the four continuations is ctx_b, as in HellaSwag.
    shared = 0
    while all(len(e) > shared + 1 and e[shared] == endings[0][shared] for e in endings):
        shared += 1
    ctx_b = " ".join(endings[0][:shared])
    return {"ind": i, "activity_label": realiser.forms[ctx.world.topic_anchor[item.topic]], "ctx_a": ctx_a,
            "ctx_b": ctx_b, "ctx": f"{ctx_a} {ctx_b}" if ctx_b else ctx_a,
            "endings": [" ".join(e[shared:]) for e in endings], "source_id": f"synth~{item.topic}",
            "split": "train" if split.startswith("train") else "val", "split_type": "indomain",
            "label": str(item.label)}


def _en(ctx: Ctx) -> Realiser:
    return ctx.realisers["en"]


TASKS: dict[str, TaskDef] = {
    "mnli": TaskDef("mnli", "intermediate", 3,
                    lambda ctx, rng, label, topic, shared: it.nli_item(ctx.world, _en(ctx), rng, label, topic, shared),
                    _render_mnli),
    "qqp": TaskDef("qqp", "intermediate", 2,
                   lambda ctx, rng, label, topic, shared: it.qqp_item(ctx.world, rng, label, topic, shared),
                   _render_qqp),
    "sst2": TaskDef("sst2", "intermediate", 2,
                    lambda ctx, rng, label, topic, shared: it.sst_item(ctx.world, rng, label, topic),
                    _render_sst2),
    "squad": TaskDef("squad", "intermediate", 0,
                     lambda ctx, rng, label, topic, shared: it.qa_item(ctx.world, rng, topic, shared),
                     lambda ctx, item, lang, split, i: _render_qa(ctx, item, lang, split, i, "squad")),
    "squad_v2": TaskDef("squad_v2", "intermediate", 0,
                        lambda ctx, rng, label, topic, shared: it.qa_item(
                            ctx.world, rng, topic, shared,
                            rng.random() >= ctx.config.squad_v2_unanswerable_fraction),
                        lambda ctx, item, lang, split, i: _render_qa(ctx, item, lang, split, i, "squad_v2")),
    "hellaswag": TaskDef("hellaswag", "intermediate", 4,
                         lambda ctx, rng, label, topic, shared: it.choice_item(ctx.world, rng, label, topic),
                         _render_hellaswag),
    "ccg": TaskDef("ccg", "intermediate", 0,
                   lambda ctx, rng, label, topic, shared: it.tagging_item(ctx.world, rng, topic, shared),
                   _render_ccg),
    "xnli": TaskDef("xnli", "target", 3,
                    lambda ctx, rng, label, topic, shared: it.nli_item(ctx.world, _en(ctx), rng, label, topic, True),
                    _render_nli),
    "pawsx": TaskDef("pawsx", "target", 2,
                     lambda ctx, rng, label, topic, shared: it.paws_item(ctx.world, rng, label, topic),
                     _render_pawsx),
    "udpos": TaskDef("udpos", "target", 0,
                     lambda ctx, rng, label, topic, shared: it.tagging_item(ctx.world, rng, topic, True),
                     _render_udpos),
    "panx": TaskDef("panx", "target", 3,
                    lambda ctx, rng, label, topic, shared: it.ner_item(ctx.world, rng, label, topic),
                    _render_panx),
    "xquad": TaskDef("xquad", "target", 0,
                     lambda ctx, rng, label, topic, shared: it.qa_item(ctx.world, rng, topic, True),
                     lambda ctx, item, lang, split, i: _render_qa(ctx, item, lang, split, i, "xquad")),
}
"""Tasks built from items (tatoeba and bucc are built by `retrieval_splits`). With probability
`task_overlap` an intermediate item takes its topic, and its label logic, from its target task:
mnli from xnli, qqp from pawsx, squad and squad_v2 from xquad, ccg from udpos; sst2 and hellaswag
share topics only."""

INTERMEDIATE_TASKS: tuple[str, ...] = ("mnli", "qqp", "sst2", "squad", "squad_v2", "hellaswag", "ccg")
TARGET_TASKS: tuple[str, ...] = ("xnli", "pawsx", "udpos", "panx", "xquad", "tatoeba", "bucc")
assert TRAINED_TARGET_TASKS == TARGET_TASKS[:5], "config.TRAINED_TARGET_TASKS must list the non-retrieval targets"


def balanced_label(seed: int, task: str, split: str, i: int, n_labels: int) -> int:
    """Label of item i: each block of n_labels consecutive items holds every label once, in a
    random order, so every prefix (every fraction) is balanced."""
    block = list(range(n_labels))
    rng_for(seed, "labels", task, split, i // n_labels).shuffle(block)
    return block[i % n_labels]


def make_items(ctx: Ctx, task: TaskDef, split: str, n: int) -> list[Item]:
    """Items 0..n-1 of a split; item i depends only on (seed, task, split, i)."""
    out = []
    overlap = ctx.config.task_overlap
    for i in range(n):
        rng = rng_for(ctx.seed, "task", task.name, split, i)
        shared = task.role == "target" or rng.random() < overlap
        topic = rng.choice(ctx.target_topics if shared else ctx.intermediate_topics)
        label = balanced_label(ctx.seed, task.name, split, i, task.n_labels) if task.n_labels else -1
        out.append(task.make(ctx, rng, label, topic, shared))
    return out


def task_splits(ctx: Ctx, name: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(split name, rows) of task `name`, in the order they are written."""
    if name in ("tatoeba", "bucc"):
        yield from retrieval_splits(ctx, name)
        return
    task, config = TASKS[name], ctx.config
    others = [lang for lang in config.languages if lang != "en"]
    if task.role == "intermediate":
        train = make_items(ctx, task, "train", config.intermediate_train_size)
        yield "train", [task.render(ctx, x, "en", "train", i) for i, x in enumerate(train)]
        validation = make_items(ctx, task, "validation", config.intermediate_validation_size)
        yield "validation", [task.render(ctx, x, "en", "validation", i) for i, x in enumerate(validation)]
        if config.translate_intermediate:
            for lang in others:
                yield f"train.{lang}", [task.render(ctx, x, lang, "train", i) for i, x in enumerate(train)]
        return
    train = make_items(ctx, task, "train", config.train_size(name))
    yield "train", [task.render(ctx, x, "en", "train", i) for i, x in enumerate(train)]
    validation = make_items(ctx, task, "validation", config.target_validation_size)
    yield "validation", [task.render(ctx, x, "en", "validation", i) for i, x in enumerate(validation)]
    test = make_items(ctx, task, "test", config.test_size)
    for lang in config.languages:
        yield f"test.{lang}", [task.render(ctx, x, lang, "test", i) for i, x in enumerate(test)]


def retrieval_sentences(ctx: Ctx, name: str, n: int) -> list[Sentence]:
    """n sentences with pairwise distinct English realisations, from a stream seeded by (seed, name)."""
    out, seen, i = [], set(), 0
    en = _en(ctx)
    while len(out) < n:
        rng = rng_for(ctx.seed, "task", name, i)
        sentence = it.retrieval_item(ctx.world, rng, rng.randrange(ctx.world.n_topics))
        text = en.text(sentence)
        if text not in seen:
            seen.add(text)
            out.append(sentence)
        i += 1
    return out


def retrieval_splits(ctx: Ctx, name: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    config = ctx.config
    others = [lang for lang in config.languages if lang != "en"]
    sizes = {"validation": config.retrieval_validation_size, "test": config.test_size}
    if name == "tatoeba":
        pool = retrieval_sentences(ctx, name, sizes["test"] + sizes["validation"])
        parts = {"test": pool[:sizes["test"]], "validation": pool[sizes["test"]:]}
        for split in ("validation", "test"):
            english = [_text(ctx, "en", s) for s in parts[split]]
            for lang in others:
                yield f"{split}.{lang}", [
                    {"source_sentence": _text(ctx, lang, s), "target_sentence": e, "source_lang": lang,
                     "target_lang": "en"} for s, e in zip(parts[split], english)]
        return
    # bucc: gold pairs plus, on each side, sentences whose translation is not on the other side.
    f = config.bucc_distractor_fraction
    counts = {split: (n, math.ceil(n * f / (1 - f))) for split, n in sizes.items()}
    pool = retrieval_sentences(ctx, name, sum(gold + 2 * extra for gold, extra in counts.values()))
    start = 0
    for split in ("validation", "test"):
        gold, extra = counts[split]
        pairs = pool[start:start + gold]
        only_foreign = pool[start + gold:start + gold + extra]
        only_en = pool[start + gold + extra:start + gold + 2 * extra]
        start += gold + 2 * extra
        for lang in others:
            rng = rng_for(ctx.seed, "bucc-order", split, lang)
            foreign = [(k, s) for k, s in enumerate(pairs)] + [(-1, s) for s in only_foreign]
            english = [(k, s) for k, s in enumerate(pairs)] + [(-1, s) for s in only_en]
            rng.shuffle(foreign)
            rng.shuffle(english)
            en_id = {k: f"en-{j:06d}" for j, (k, _) in enumerate(english) if k >= 0}
            rows = [{"id": f"{lang}-{j:06d}", "lang": lang, "sentence": _text(ctx, lang, s),
                     "gold": en_id[k] if k >= 0 else ""} for j, (k, s) in enumerate(foreign)]
            rows += [{"id": f"en-{j:06d}", "lang": "en", "sentence": _text(ctx, "en", s), "gold": ""}
                     for j, (_, s) in enumerate(english)]
            yield f"{split}.{lang}", rows


def task_role(name: str) -> str:
    return "intermediate" if name in INTERMEDIATE_TASKS else "target"
