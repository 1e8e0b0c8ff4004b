"""The data checks of `xscale synth check`: no shortcuts and balanced labels.

*No shortcuts*: surface classifiers trained on English score near chance on every other language,
and the NLI hypothesis alone says nothing about the label. *Balance*: labels are balanced. The checks
that train models (transfer, retrieval) are in `xscale.synthcheck.transfer`.

Accuracies and F1 are in percent; a shortcut check passes when the measured score is at most the
chance (or baseline) score plus `SHORTCUT_MARGIN` points.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container, Sequence
from pathlib import Path

import numpy as np

from xscale.synth.io import load_task, read_manifest, regenerate
from xscale.synthcheck.rows import Check, CheckRow

SHORTCUT_MARGIN = 5.0
"""Points above chance that a shortcut baseline may score."""
BALANCE_MAX_RATIO = 1.1
"""Largest allowed ratio of the most to the least frequent label of a classification split."""
ENTITY_BALANCE_MAX_RATIO = 1.5
"""Largest allowed ratio of the most to the least frequent entity type (panx spans)."""
UNANSWERABLE_TOLERANCE = 0.05
"""Allowed deviation of the squad_v2 unanswerable share from the configured fraction."""


# ------------------------------------------------------------------------------ surface classifiers

class Featurizer:
    """Word-count (or length one-hot) features over named text fields, vocabulary from training data."""

    def __init__(self, fields: Sequence[str], kind: str = "bow", max_len: int = 48):
        self.fields, self.kind, self.max_len = tuple(fields), kind, max_len
        self.vocab: dict[str, int] = {}

    def fit(self, rows: dict[str, list]) -> Featurizer:
        if self.kind == "bow":
            for f in self.fields:
                for text in rows[f]:
                    for w in text.split():
                        self.vocab.setdefault(f"{f}:{w}", len(self.vocab))
        return self

    def transform(self, rows: dict[str, list]) -> np.ndarray:
        n = len(rows[self.fields[0]])
        if self.kind == "bow":
            x = np.zeros((n, len(self.vocab)), dtype=np.float32)
            for f in self.fields:
                for i, text in enumerate(rows[f]):
                    for w in text.split():
                        j = self.vocab.get(f"{f}:{w}")
                        if j is not None:
                            x[i, j] += 1.0
            return np.log1p(x)
        # Length features: one-hot length of each field and of the difference of the first two.
        m = self.max_len
        blocks = []
        lengths = [np.array([min(len(t.split()), m - 1) for t in rows[f]]) for f in self.fields]
        for lens in lengths:
            blocks.append(np.eye(m, dtype=np.float32)[lens])
        if len(lengths) == 2:
            diff = np.clip(lengths[0] - lengths[1] + m // 2, 0, m - 1)
            blocks.append(np.eye(m, dtype=np.float32)[diff])
        return np.concatenate(blocks, axis=1)


def train_logreg(x: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float = 1e-3, steps: int = 300,
                 lr: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch Adam (numpy only)."""
    n, d = x.shape
    x = x.astype(np.float32, copy=False)
    w = np.zeros((d, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / n
        gw, gb = x.T @ g + l2 * w, g.sum(axis=0)
        for param, grad, m, v in ((w, gw, m_w, v_w), (b, gb, m_b, v_b)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return w, b


def logreg_accuracy(train: dict[str, list], tests: dict[str, dict[str, list]], fields: Sequence[str],
                    kind: str) -> dict[str, float]:
    """Accuracy (%) on each test split of a classifier trained on `train` (label column `label`)."""
    feats = Featurizer(fields, kind).fit(train)
    y = np.array(train["label"])
    n_classes = int(y.max()) + 1
    w, b = train_logreg(feats.transform(train), y, n_classes)
    out = {}
    for name, rows in tests.items():
        pred = (feats.transform(rows) @ w + b).argmax(axis=1)
        out[name] = 100.0 * float((pred == np.array(rows["label"])).mean())
    return out


# ------------------------------------------------------------------------------------- tagging

def designed_anchors(bench: Path) -> dict[str, frozenset[str]]:
    """Per non-English language, the spellings it shares with `en` by design: punctuation, numbers, the
    shared names and (`near`) the loanwords. Rebuilt from the manifest's config and seed (a fraction of
    a second); every other spelling belongs to one language only, and `inv`, in its own script, shares
    none."""
    realisers = regenerate(bench).realisers
    en = realisers["en"].forms
    return {code: frozenset(f for f, e in zip(r.forms, en) if f is not None and f == e)
            for code, r in realisers.items() if code != "en"}


def tagger_accuracies(train: dict[str, list], test: dict[str, list], column: str,
                      anchors: Container[str]) -> dict[str, float]:
    """Token accuracy (%) of three taggers trained on English: majority tag, anchor (the English tag of
    the test language's designed `anchors`, else majority) and lexical (the English tag of every known
    word, else majority). Lexical beats anchor only through spellings shared by accident."""
    by_word: dict[str, Counter] = {}
    overall: Counter = Counter()
    for tokens, tags in zip(train["tokens"], train[column]):
        for w, t in zip(tokens, tags):
            by_word.setdefault(w, Counter())[t] += 1
            overall[t] += 1
    majority = overall.most_common(1)[0][0]
    lexicon = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
    hits = Counter()
    total = 0
    for tokens, tags in zip(test["tokens"], test[column]):
        for w, t in zip(tokens, tags):
            total += 1
            hits["majority"] += t == majority
            hits["anchor"] += t == (lexicon.get(w, majority) if w in anchors else majority)
            hits["lexical"] += t == lexicon.get(w, majority)
    return {k: 100.0 * hits[k] / max(total, 1) for k in ("majority", "anchor", "lexical")}


# ------------------------------------------------------------------------------------------ QA

def _f1(pred: list[str], gold: list[str]) -> float:
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _answer_span(row: dict) -> tuple[int, int]:
    """(first token, token count) of the first answer of a SQuAD-format row."""
    start_char = row["answers"]["answer_start"][0]
    first = len(row["context"][:start_char].split())
    return first, len(row["answers"]["text"][0].split())


def position_baseline_f1(train: list[dict], test: list[dict], rng: np.random.Generator) -> tuple[float, float]:
    """F1 (%) of the most frequent English (start token, length) span, and of a random span of that
    length (chance), on `test`."""
    start, length = Counter(_answer_span(r) for r in train).most_common(1)[0][0]
    fixed, random_f1 = [], []
    for row in test:
        words = row["context"].split()
        gold = row["answers"]["text"][0].split()
        s = min(start, max(len(words) - length, 0))
        fixed.append(_f1(words[s:s + length], gold))
        r = int(rng.integers(0, max(len(words) - length, 0) + 1))
        random_f1.append(_f1(words[r:r + length], gold))
    return 100.0 * float(np.mean(fixed)), 100.0 * float(np.mean(random_f1))


# --------------------------------------------------------------------------------------- checks

def _columns(dataset) -> dict[str, list]:
    return dataset.to_dict()


def _other_languages(bench: Path) -> list[str]:
    return [lang for lang in read_manifest(bench)["languages"] if lang != "en"]


def shortcut_checks(bench: Path, seed: int) -> list[CheckRow]:
    """Surface baselines trained on English train score near chance on every other language."""
    rows: list[CheckRow] = []
    others = _other_languages(bench)

    def add(name: str, measured: float, reference: float) -> None:
        threshold = reference + SHORTCUT_MARGIN
        rows.append(CheckRow(name, seed, round(measured, 2), round(threshold, 2), measured <= threshold))

    for task, fields in (("xnli", ("premise", "hypothesis")), ("pawsx", ("sentence1", "sentence2"))):
        data = load_task(bench, task)
        train = _columns(data["train"])
        chance = 100.0 / (max(train["label"]) + 1)
        tests = {lang: _columns(data[f"test.{lang}"]) for lang in ["en"] + others}
        bow = logreg_accuracy(train, tests, fields, "bow")
        length = logreg_accuracy(train, tests, fields, "length")
        for lang in others:
            add(f"shortcut/{task}/bow/{lang}", bow[lang], chance)
            add(f"shortcut/{task}/length/{lang}", length[lang], chance)
        if task == "xnli":
            # The hypothesis alone must not give the label away, even in English.
            hyp_only = logreg_accuracy(train, tests, ("hypothesis",), "bow")
            for lang in ["en"] + others:
                add(f"shortcut/xnli/bow-hypothesis/{lang}", hyp_only[lang], chance)

    anchors = designed_anchors(bench)
    for task, column in (("udpos", "pos_tags"), ("panx", "ner_tags")):
        data = load_task(bench, task)
        train = _columns(data["train"])
        for lang in others:
            acc = tagger_accuracies(train, _columns(data[f"test.{lang}"]), column, anchors[lang])
            add(f"shortcut/{task}/lexical-over-anchor/{lang}", acc["lexical"], acc["anchor"])

    data = load_task(bench, "xquad")
    train = data["train"].to_list()
    rng = np.random.default_rng(seed)
    for lang in others:
        fixed, chance_f1 = position_baseline_f1(train, data[f"test.{lang}"].to_list(), rng)
        add(f"shortcut/xquad/position-f1/{lang}", fixed, chance_f1)
    return rows


def balance_checks(bench: Path, seed: int) -> list[CheckRow]:
    """Labels are balanced in every training and English test split."""
    rows: list[CheckRow] = []
    manifest = read_manifest(bench)
    for task in ("xnli", "pawsx", "mnli", "qqp", "sst2", "hellaswag"):
        data = load_task(bench, task)
        for split in ("train", "validation", "test.en"):
            if split not in data:
                continue
            counts = Counter(data[split].to_dict()["label"])
            ratio = max(counts.values()) / max(min(counts.values()), 1)
            rows.append(CheckRow(f"balance/{task}/{split}/max-over-min-share", seed, round(ratio, 3),
                                 BALANCE_MAX_RATIO, ratio <= BALANCE_MAX_RATIO))
    data = load_task(bench, "panx")
    for split in ("train", "test.en"):
        counts = Counter(t for tags in data[split].to_dict()["ner_tags"] for t in tags if t in (1, 3, 5))
        ratio = max(counts.values()) / max(min(counts.values()), 1) if len(counts) == 3 else math.inf
        rows.append(CheckRow(f"balance/panx/{split}/entity-max-over-min-share", seed, round(ratio, 3),
                             ENTITY_BALANCE_MAX_RATIO, ratio <= ENTITY_BALANCE_MAX_RATIO))
    train = load_task(bench, "squad_v2")["train"]
    share = sum(1 for a in train.to_dict()["answers"] if not a["text"]) / len(train)
    wanted = manifest["config"]["squad_v2_unanswerable_fraction"]
    rows.append(CheckRow("balance/squad_v2/train/unanswerable-share-error", seed, round(abs(share - wanted), 3),
                         UNANSWERABLE_TOLERANCE, abs(share - wanted) <= UNANSWERABLE_TOLERANCE))
    return rows


CHECKS: dict[str, Check] = {"shortcut": shortcut_checks, "balance": balance_checks}
"""The data checks, by name; each maps (benchmark dir, seed) to rows."""
