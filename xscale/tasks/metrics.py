"""Metrics as XTREME computes them, all in points (0-100).

Sources: XTREME's official scorer `evaluate.py` and baselines `third_party/run_tag.py`,
`third_party/run_retrieval.py`, `third_party/utils_retrieve.py` (github.com/google-research/xtreme),
the SQuAD v1.1 evaluation script, and MLQA's `mlqa_evaluation_v1.py`
(github.com/facebookresearch/MLQA). The code here is written from their published rules.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from xscale.keys import XTREME_SCORE, XTREME_SCORE_ALL
from xscale.tasks.registry import get_task


def accuracy(preds: Sequence, labels: Sequence) -> float:
    """Share of predictions equal to their label."""
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
    if not labels:
        raise ValueError("accuracy of an empty set")
    return 100.0 * sum(int(p == g) for p, g in zip(preds, labels)) / len(labels)


def binary_f1(preds: Sequence, labels: Sequence, positive=1) -> float:
    """F1 of the positive class, as GLUE reports it for QQP."""
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
    tp = sum(int(p == positive and g == positive) for p, g in zip(preds, labels))
    predicted = sum(int(p == positive) for p in preds)
    actual = sum(int(g == positive) for g in labels)
    if tp == 0:
        return 0.0
    precision, recall = tp / predicted, tp / actual
    return 100.0 * 2 * precision * recall / (precision + recall)


def _check_tag_shapes(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> None:
    if len(pred_tags) != len(gold_tags):
        raise ValueError(f"{len(pred_tags)} predicted sentences for {len(gold_tags)} gold sentences")
    for i, (pred, gold) in enumerate(zip(pred_tags, gold_tags)):
        if len(pred) != len(gold):
            raise ValueError(f"sentence {i}: {len(pred)} predicted tags for {len(gold)} gold tags")


def tagging_f1(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> float:
    """Chunk-level micro F1 from seqeval's `f1_score` (default, conlleval-compatible mode).

    XTREME scores both PAN-X and UD-POS this way: `evaluate.py` maps `panx` and `udpos` to the
    same `f1` (seqeval `f1_score` on the raw tag sequences), as does `third_party/run_tag.py`.
    For POS tags, which have no B-/I- prefix, seqeval (>= 1.0, see `get_entities`) reads the
    first character as the chunk prefix and the rest as the type, so a run of identical tags
    becomes one chunk (`NOUN NOUN` is one span) and CCONJ/SCONJ share the type `CONJ` (seqeval
    0.0.x, current at XTREME's release, kept whole tags as types; the two differ only where
    CCONJ and SCONJ meet). The number is therefore not token accuracy: google-research/xtreme issue #56 confirms that the
    paper's UD-POS column (XLM-R 73.8) is this F1 (74.2 reproduced, 78.2 as token accuracy).
    We keep it for comparability and report `tagging_accuracy` beside it.
    """
    # Imported here: seqeval pulls in scikit-learn, which the other metrics do not need.
    from seqeval.metrics import f1_score

    _check_tag_shapes(pred_tags, gold_tags)
    with warnings.catch_warnings():
        # seqeval warns once per tag without a B-/I- prefix, i.e. for every POS tag.
        warnings.simplefilter("ignore")
        score = f1_score([list(g) for g in gold_tags], [list(p) for p in pred_tags])
    return 100.0 * float(score)


def tagging_accuracy(pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> float:
    """Token-level accuracy over all tokens of all sentences."""
    _check_tag_shapes(pred_tags, gold_tags)
    flat_pred = [t for sent in pred_tags for t in sent]
    flat_gold = [t for sent in gold_tags for t in sent]
    return accuracy(flat_pred, flat_gold)


_ASCII_PUNCT = frozenset(string.punctuation)


def _is_mlqa_punct(char: str) -> bool:
    """MLQA's punctuation: Unicode category P*, plus ASCII punctuation (which holds $ + < = > ^ ` | ~)."""
    return char in _ASCII_PUNCT or unicodedata.category(char).startswith("P")


# Articles (and, for Vietnamese, classifiers and particles) that MLQA deletes per language.
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")

NORMALIZERS = ("mlqa", "squad")

# The official scorer per QA task: XTREME's `evaluate.py` scores XQuAD and TyDiQA with the
# SQuAD v1.1 script (English rules for every language) and MLQA with MLQA's script.
QA_NORMALIZER = {"squad": "squad", "squad_v2": "squad", "xquad": "squad", "tydiqa": "squad", "mlqa": "mlqa"}


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokenisation: each CJK character (or punctuation mark) is a token."""
    tokens: list[str] = []
    pending = ""
    for char in text:
        if _CJK.match(char) or _is_mlqa_punct(char):
            tokens.extend(pending.split())
            pending = ""
            tokens.append(char)
        else:
            pending += char
    tokens.extend(pending.split())
    return tokens


def normalize_answer(text: str, lang: str = "en", normalizer: str = "mlqa") -> str:
    """Answer normalisation before EM/F1: lower-case, drop punctuation and articles, re-space.

    `mlqa` follows MLQA's rules: Unicode punctuation; articles of en/es/de/vi; Arabic loses
    every `ال` (MLQA's pattern also strips it inside words); no articles for hi and zh; zh is
    split into characters. Languages MLQA does not define (its script raises) get its
    punctuation rule, no article removal and whitespace tokens. `squad` is the SQuAD v1.1
    script: ASCII punctuation, English articles and whitespace tokens for every language.
    """
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer {normalizer!r} (allowed: {', '.join(NORMALIZERS)})")
    text = text.lower()
    if normalizer == "squad":
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
        return " ".join(re.sub(_MLQA_ARTICLES["en"], " ", text).split())
    text = "".join(ch for ch in text if not _is_mlqa_punct(ch))
    if lang in _MLQA_ARTICLES:
        text = re.sub(_MLQA_ARTICLES[lang], " ", text)
    elif lang == "ar":
        text = text.replace("ال", " ")
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def _f1(prediction: str, truth: str, lang: str, normalizer: str) -> float:
    pred_tokens = normalize_answer(prediction, lang, normalizer).split()
    true_tokens = normalize_answer(truth, lang, normalizer).split()
    common = sum((Counter(pred_tokens) & Counter(true_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


def _exact(prediction: str, truth: str, lang: str, normalizer: str) -> float:
    return float(normalize_answer(prediction, lang, normalizer) == normalize_answer(truth, lang, normalizer))


def squad_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    lang: str = "en",
    *,
    normalizer: str = "mlqa",
) -> dict[str, float]:
    """SQuAD-style F1 and exact match, each the max over a question's gold answers.

    Every question in `references` counts; a missing prediction scores 0 (as in the official
    scripts). A question with no gold answers (SQuAD v2.0 unanswerable) scores 1 exactly when
    the prediction normalises to empty, the SQuAD v2.0 rule. Use `QA_NORMALIZER[task]` for the
    scorer XTREME uses per task.
    """
    if not references:
        raise ValueError("no reference questions")
    f1_total = exact_total = 0.0
    for qid, truths in references.items():
        if qid not in predictions:
            continue
        prediction = predictions[qid]
        if not truths:
            empty = float(normalize_answer(prediction, lang, normalizer) == "")
            f1_total += empty
            exact_total += empty
            continue
        f1_total += max(_f1(prediction, t, lang, normalizer) for t in truths)
        exact_total += max(_exact(prediction, t, lang, normalizer) for t in truths)
    return {"f1": 100.0 * f1_total / len(references), "exact_match": 100.0 * exact_total / len(references)}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def tatoeba_accuracy(src: np.ndarray, tgt: np.ndarray) -> float:
    """Accuracy@1 of nearest-neighbour search by cosine similarity; row i of src translates row i of tgt.

    XTREME's direction (`run_retrieval.py` -> `similarity_search`): the non-English sentences
    (`src`) form the index and each English sentence (`tgt`) is the query, so a hit is
    argmax_i cos(src_i, tgt_j) == j. Ties go to the lowest index.
    """
    if src.shape != tgt.shape:
        raise ValueError(f"src {src.shape} and tgt {tgt.shape} must have the same shape")
    similarity = _unit_rows(tgt) @ _unit_rows(src).T
    hits = np.argmax(similarity, axis=1) == np.arange(len(tgt))
    return 100.0 * float(hits.mean())


def _knn(queries: np.ndarray, index: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Top-k cosine similarities and indices (both unit-normalised inputs), best first."""
    k = min(k, len(index))
    sims = np.empty((len(queries), k), dtype=np.float32)
    inds = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk] @ index.T
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        inds[start : start + chunk] = np.take_along_axis(top, order, axis=1)
        sims[start : start + chunk] = np.take_along_axis(top_sims, order, axis=1)
    return sims, inds


def bucc_mine(
    src_ids: Sequence[str],
    src_emb: np.ndarray,
    tgt_ids: Sequence[str],
    tgt_emb: np.ndarray,
    k: int = 4,
) -> list[tuple[str, str, float]]:
    """Candidate pairs by ratio-margin mining (Artetxe & Schwenk 2019), as XTREME's BUCC baseline.

    Follows `utils_retrieve.mine_bitext` with its defaults (mode `mine`, retrieval `max`,
    margin `ratio`, cosine, threshold 0): score(x, y) = cos(x, y) / ((mean cos of x to its k
    nearest targets + mean cos of y to its k nearest sources) / 2). Each source keeps its best
    target among its k neighbours and each target its best source; these pairs are taken by
    descending score, skipping any whose source or target is already used, and kept when the
    score is above 0. XTREME also merges duplicate sentence texts first; ids here are unique.
    """
    x, y = _unit_rows(src_emb), _unit_rows(tgt_emb)
    if len(src_ids) != len(x) or len(tgt_ids) != len(y):
        raise ValueError("ids and embeddings differ in length")
    fwd_sims, fwd_inds = _knn(x, y, k)
    bwd_sims, bwd_inds = _knn(y, x, k)
    fwd_mean, bwd_mean = fwd_sims.mean(axis=1), bwd_sims.mean(axis=1)
    fwd_scores = fwd_sims / ((fwd_mean[:, None] + bwd_mean[fwd_inds]) / 2)
    bwd_scores = bwd_sims / ((bwd_mean[:, None] + fwd_mean[bwd_inds]) / 2)
    fwd_pick = np.argmax(fwd_scores, axis=1)
    bwd_pick = np.argmax(bwd_scores, axis=1)
    rows = np.arange(len(x))
    cols = np.arange(len(y))
    pairs_src = np.concatenate([rows, bwd_inds[cols, bwd_pick]])
    pairs_tgt = np.concatenate([fwd_inds[rows, fwd_pick], cols])
    scores = np.concatenate([fwd_scores[rows, fwd_pick], bwd_scores[cols, bwd_pick]])
    seen_src: set[int] = set()
    seen_tgt: set[int] = set()
    candidates = []
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(pairs_src[i]), int(pairs_tgt[i])
        if s in seen_src or t in seen_tgt:
            continue
        seen_src.add(s)
        seen_tgt.add(t)
        if scores[i] > 0:
            candidates.append((src_ids[s], tgt_ids[t], float(scores[i])))
    return candidates


def bucc_f1(
    candidates: Sequence[tuple[str, str, float]],
    gold_pairs: Sequence[tuple[str, str]],
    threshold: float,
) -> dict[str, float]:
    """Precision, recall and F1 of the candidates scoring at least `threshold` against the gold pairs."""
    gold = set(map(tuple, gold_pairs))
    extracted = {(s, t) for s, t, score in candidates if score >= threshold}
    correct = len(gold & extracted)
    if correct == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall = correct / len(extracted), correct / len(gold)
    return {
        "precision": 100.0 * precision,
        "recall": 100.0 * recall,
        "f1": 100.0 * 2 * precision * recall / (precision + recall),
    }


def bucc_best_threshold(
    candidates: Sequence[tuple[str, str, float]], gold_pairs: Sequence[tuple[str, str]]
) -> float:
    """The score threshold maximising F1 on these (dev) candidates, to apply to the test set.

    XTREME's `bucc_optimize`: walk the candidates by descending score and, where F1 improves,
    put the threshold halfway between this candidate's score and the next one's. When the best
    cut is after the last candidate (where XTREME's code would index past the end) the threshold
    is that candidate's score. 0 when no candidate is correct.
    """
    gold = set(map(tuple, gold_pairs))
    ranked = sorted(candidates, key=lambda c: -c[2])
    threshold, best_f1, correct = 0.0, 0.0, 0
    for n, (s, t, score) in enumerate(ranked, start=1):
        correct += (s, t) in gold
        if correct == 0:
            continue
        precision, recall = correct / n, correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (score + ranked[n][2]) / 2 if n < len(ranked) else score
    return threshold


def xtreme_task_score(task: str, per_lang: Mapping[str, Mapping[str, float]]) -> float:
    """One task's XTREME score from its per-language metrics ({lang: {metric: value}}).

    XTREME's `evaluate.py`: each metric is averaged over all the task's languages, English
    included where the task has it; QA tasks (XQuAD, MLQA, TyDiQA) then take the mean of the
    average F1 and the average exact match, tasks with an F1 take the average F1, the rest the
    average accuracy.
    """
    info = get_task(task)
    if not per_lang:
        raise ValueError(f"{task}: no languages to average")

    def average(metric: str) -> float:
        try:
            return float(np.mean([scores[metric] for scores in per_lang.values()]))
        except KeyError:
            raise ValueError(f"{task}: every language needs the {metric!r} metric") from None

    if info.format == "span_qa":
        return (average("f1") + average("exact_match")) / 2
    return average("f1" if "f1" in info.metrics else "accuracy")


def xtreme_score(task_scores: Mapping[str, float]) -> float:
    """The XTREME aggregate: the unweighted mean of the task scores (see `xtreme_task_score`).

    This is `evaluate.py`'s `all_task` score (and its per-group scores when given one group's
    tasks), the "Avg" of Hu et al. 2020 and of the leaderboard. XTREME reports it only with all
    nine tasks; over a subset (the synthetic benchmark has seven) it is the mean of those given.
    """
    if not task_scores:
        raise ValueError("no task scores to average")
    return float(np.mean(list(task_scores.values())))


def xtreme_scores(
    per_task: Mapping[str, Mapping[str, Mapping[str, float]]],
    xtreme_languages: Mapping[str, Collection[str]] | None = None,
) -> dict[str, float]:
    """`xtreme/score` over XTREME's languages and, when some task was also evaluated in others,
    `xtreme/score_all` over every language, from `{task: {lang: {metric: value}}}`.

    `xtreme_languages` gives each task's XTREME languages (the registry's lists, on real data); None
    counts every language given (the synthetic benchmark, whose languages are its own). A task with
    no XTREME language scored stays out of `xtreme/score`; {} when nothing was scored.
    """
    scored = {task: langs for task, langs in per_task.items() if langs}
    xtreme = scored
    if xtreme_languages is not None:
        kept = {task: {lang: v for lang, v in langs.items() if lang in xtreme_languages.get(task, ())}
                for task, langs in scored.items()}
        xtreme = {task: langs for task, langs in kept.items() if langs}
    out = {}
    if xtreme:
        out[XTREME_SCORE] = xtreme_score({task: xtreme_task_score(task, langs) for task, langs in xtreme.items()})
    if xtreme != scored:
        out[XTREME_SCORE_ALL] = xtreme_score({task: xtreme_task_score(task, langs) for task, langs in scored.items()})
    return out
