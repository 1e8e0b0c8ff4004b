"""XTREME's metrics against values computed by hand (in the comments), on real examples where possible."""

import numpy as np
import pytest

from xscale.tasks.metrics import (
    QA_NORMALIZER,
    accuracy,
    binary_f1,
    bucc_best_threshold,
    bucc_f1,
    bucc_mine,
    normalize_answer,
    squad_scores,
    tagging_accuracy,
    tagging_f1,
    tatoeba_accuracy,
    xtreme_score,
    xtreme_scores,
    xtreme_task_score,
)
from xscale.data.local import load_local
from xscale.tasks.readers import read_udpos_conllu
from xscale.tasks.registry import TASKS


def test_accuracy_and_binary_f1():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 75.0
    # tp=1 (index 0), predicted positives 2, actual positives 2: P=R=1/2, F1=1/2.
    assert binary_f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(50.0)
    with pytest.raises(ValueError):
        accuracy([0], [0, 1])


def test_every_qa_task_has_its_official_normalizer():
    qa_tasks = {name for name, task in TASKS.items() if task.format == "span_qa"}
    assert set(QA_NORMALIZER) == qa_tasks
    assert QA_NORMALIZER["mlqa"] == "mlqa" and QA_NORMALIZER["xquad"] == "squad"


@pytest.mark.parametrize(
    "text,lang,expected",
    [
        # German articles go, unicode quotes are punctuation (category Pi/Pf).
        ("«Die Badewanne»", "de", "badewanne"),
        ("eines der Häuser", "de", "häuser"),
        # Spanish articles.
        ("la Organización de Cooperación Islámica", "es", "organización de cooperación islámica"),
        ("¿Los árabes?", "es", "árabes"),
        # Chinese: punctuation dropped, each CJK character a token, Latin runs split on spaces.
        ("《毁灭战士3》", "zh", "毁 灭 战 士 3"),
        ("BFG 9000和电锯", "zh", "bfg 9000 和 电 锯"),
        ("136 次", "zh", "136 次"),
        # Arabic: every "ال" is removed, MLQA's literal rule (inside words too).
        ("الكتاب", "ar", "كتاب"),
        ("مالك", "ar", "م ك"),
        # Vietnamese particles, English articles; unknown languages keep their words.
        ("cái bàn của tôi", "vi", "bàn tôi"),
        ("The Panthers", "en", "panthers"),
        ("die Katze", "ru", "die katze"),
    ],
)
def test_mlqa_normalisation(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_squad_normalisation_is_english_and_ascii_only():
    assert normalize_answer("«Die Badewanne»", "de", "squad") == "«die badewanne»"
    assert normalize_answer("The (118)", "de", "squad") == "118"


@pytest.mark.realdata
def test_squad_scores_on_three_real_xquad_questions(realdata):
    ds = load_local("xquad", realdata, "de", "validation").select(range(3))
    references = dict(zip(ds["id"], (a["text"] for a in ds["answers"])))
    assert list(references.values()) == [["308"], ["136"], ["118"]]
    ids = ds["id"]
    predictions = {ids[0]: "308 Punkte", ids[1]: "136", ids[2]: "(118)"}
    # q0: [308, punkte] vs [308]: P=1/2, R=1 -> F1=2/3, EM 0.  q1: exact.  q2: parentheses
    # are punctuation -> exact.  F1 = (2/3 + 1 + 1) / 3 = 8/9, EM = 2/3.
    for normalizer in ("mlqa", "squad"):
        scores = squad_scores(predictions, references, "de", normalizer=normalizer)
        assert scores["f1"] == pytest.approx(100 * 8 / 9)
        assert scores["exact_match"] == pytest.approx(100 * 2 / 3)


@pytest.mark.realdata
def test_squad_scores_chinese_character_level(realdata):
    ds = load_local("xquad", realdata, "zh", "validation").select([0, 1, 5])
    references = dict(zip(ds["id"], (a["text"] for a in ds["answers"])))
    assert list(references.values()) == [["308"], ["136 次"], ["24 次"]]
    ids = ds["id"]
    predictions = {ids[0]: "308分", ids[1]: "136次", ids[2]: "24"}
    # MLQA zh: "308分" -> [308, 分] vs [308]: F1 2/3.  "136次" -> [136, 次] == gold: EM.
    # "24" vs [24, 次]: P=1, R=1/2 -> F1 2/3.  F1 = (2/3 + 1 + 2/3)/3 = 7/9, EM = 1/3.
    mlqa = squad_scores(predictions, references, "zh")
    assert mlqa["f1"] == pytest.approx(100 * 7 / 9)
    assert mlqa["exact_match"] == pytest.approx(100 / 3)
    # SQuAD v1.1 rules (XTREME's for XQuAD): whitespace tokens only, so "308分" and "136次" are
    # single tokens sharing nothing with the gold; only "24" scores F1 2/3.  F1 = 2/9, EM 0.
    squad = squad_scores(predictions, references, "zh", normalizer="squad")
    assert squad["f1"] == pytest.approx(100 * 2 / 9)
    assert squad["exact_match"] == 0.0


@pytest.mark.realdata
def test_squad_scores_german_articles_on_real_mlqa(realdata):
    ds = load_local("mlqa", realdata, "de", "validation").select(range(3))
    references = dict(zip(ds["id"], (a["text"] for a in ds["answers"])))
    assert list(references.values()) == [
        ["überwiegend antibritisch und prorussisch"], ["Badewanne"], ["Baron Stockmar"]
    ]
    ids = ds["id"]
    predictions = {ids[0]: "Die Position war überwiegend antibritisch", ids[1]: "eine Badewanne."}
    # q0 (mlqa, de): "die" goes -> [position, war, überwiegend, antibritisch] vs 4 gold tokens,
    # 2 shared: P=R=1/2, F1=1/2.  q1: "eine" and "." go -> exact.  q2: no prediction -> 0.
    # F1 = (1/2 + 1 + 0)/3 = 1/2, EM = 1/3.
    scores = squad_scores(predictions, references, "de")
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # SQuAD rules keep "die"/"eine": q0 5 tokens, 2 shared: P=2/5, R=1/2 -> F1=4/9;
    # q1 [eine, badewanne] vs [badewanne]: F1=2/3.  F1 = (4/9 + 2/3)/3 = 10/27, EM 0.
    squad = squad_scores(predictions, references, "de", normalizer="squad")
    assert squad["f1"] == pytest.approx(100 * 10 / 27)
    assert squad["exact_match"] == 0.0


def test_squad_v2_unanswerable_questions():
    references = {"a": [], "b": [], "c": ["Denver Broncos"]}
    predictions = {"a": "", "b": "Carolina", "c": "the Denver Broncos"}
    # a: empty for unanswerable -> 1; b: answered an unanswerable -> 0; c: article dropped -> 1.
    scores = squad_scores(predictions, references, "en")
    assert scores == {"f1": pytest.approx(200 / 3), "exact_match": pytest.approx(200 / 3)}


@pytest.mark.realdata
def test_tagging_f1_on_two_real_panx_sentences(realdata):
    ds = load_local("panx", realdata, "de", "validation").select(range(2))
    names = ds.features["ner_tags"].feature.names
    gold = [[names[t] for t in sent] for sent in ds["ner_tags"]]
    assert gold == [
        ["B-PER", "I-PER", "I-PER", "I-PER", "O"],  # Anton Wilhelm von Zuccalmaglio .
        ["O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O", "O", "O"],  # ... Zeugen Jehovas ...
    ]
    pred = [
        ["B-PER", "I-PER", "O", "B-PER", "O"],
        ["O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O", "B-LOC", "O"],
    ]
    # Gold entities: PER(0-3), ORG(3-4) = 2.  Predicted: PER(0-1), PER(3), ORG(3-4), LOC(8) = 4.
    # Correct: ORG only.  P = 1/4, R = 1/2, F1 = 2PR/(P+R) = 1/3.
    assert tagging_f1(pred, gold) == pytest.approx(100 / 3)
    # Tokens: 3/5 right in the first sentence, 9/10 in the second: 12/15.
    assert tagging_accuracy(pred, gold) == pytest.approx(80.0)


@pytest.mark.realdata
def test_pos_f1_is_seqeval_chunk_f1_not_token_accuracy(realdata):
    ds = read_udpos_conllu(realdata / "udpos" / "de_gsd-ud-test.conllu").select(range(1))
    names = ds.features["pos_tags"].feature.names
    gold = [[names[t] for t in ds[0]["pos_tags"]]]
    # "Der Hauptgang war in Ordnung , aber alles andere als umwerfend ."
    assert gold[0] == [
        "DET", "NOUN", "AUX", "ADP", "NOUN", "PUNCT", "CCONJ", "ADV", "PRON", "ADP", "ADJ", "PUNCT"
    ]
    pred = [gold[0][:7] + ["PRON"] + gold[0][8:]]
    # Neighbouring gold tags all differ, so gold has 12 one-token chunks.  The prediction's
    # "PRON PRON" is one chunk, so it has 11 chunks, 10 of them correct:
    # F1 = 2*10 / (11 + 12) = 20/23, while token accuracy is 11/12.
    assert tagging_f1(pred, gold) == pytest.approx(100 * 20 / 23)
    assert tagging_accuracy(pred, gold) == pytest.approx(100 * 11 / 12)


def test_tagging_shape_mismatch():
    with pytest.raises(ValueError, match="sentence 0"):
        tagging_f1([["O"]], [["O", "O"]])


def test_tatoeba_accuracy_uses_xtremes_direction():
    src = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # non-English
    tgt = np.array([[1.0, 0.1], [0.1, 1.0], [0.0, 1.0]])  # English
    # English row j queries the non-English rows: tgt0 -> src0 (cos .995), tgt1 -> src1 (.995),
    # tgt2 -> src1 (cos 1 beats src2's .707): 2 of 3.  The other direction would give 1/3.
    assert tatoeba_accuracy(src, tgt) == pytest.approx(200 / 3)
    assert tatoeba_accuracy(tgt, src) == pytest.approx(100 / 3)
    assert tatoeba_accuracy(src * 5, src) == 100.0


def test_bucc_margin_mining_on_a_3x3_toy():
    src = np.eye(3)
    tgt = np.array([[0.8, 0.6, 0.0], [0.0, 0.28, 0.96], [0.6, 0.0, 0.8]])
    # cos[s][t] = tgt[t][s]:  s0: .8 .0 .6 | s1: .6 .28 .0 | s2: .0 .96 .8
    # k=2 neighbourhood means: fwd s0 .7, s1 .44, s2 .88; bwd t0 .7, t1 .62, t2 .7.
    # Ratio margin cos / ((fwd + bwd) / 2):  s0->t0 .8/.7 = 1.142857;  s1->t0 .6/.57 = 1.052632;
    # s2->t1 .96/.75 = 1.28 (best of each source);  t0->s0 1.142857, t1->s2 1.28,
    # t2->s2 .8/.79 = 1.012658 (best of each target).  Greedy by score: (s2,t1) 1.28,
    # (s0,t0) 1.142857; (s1,t0) and (s2,t2) reuse t0 and s2.
    candidates = bucc_mine(["s0", "s1", "s2"], src, ["t0", "t1", "t2"], tgt, k=2)
    assert [(s, t) for s, t, _ in candidates] == [("s2", "t1"), ("s0", "t0")]
    assert [c[2] for c in candidates] == pytest.approx([1.28, 0.8 / 0.7])
    gold = [("s0", "t0"), ("s1", "t2")]
    # Threshold 1.2 keeps only (s2,t1): nothing correct.  Threshold 1.0 keeps both: 1 of 2
    # extracted is right and 1 of 2 gold is found: P = R = F1 = 50.
    assert bucc_f1(candidates, gold, 1.2) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert bucc_f1(candidates, gold, 1.0) == pytest.approx({"precision": 50.0, "recall": 50.0, "f1": 50.0})


def test_bucc_best_threshold_is_halfway_to_the_next_score():
    candidates = [("a", "x", 0.9), ("b", "y", 0.8), ("c", "z", 0.5)]
    gold = [("a", "x"), ("d", "w")]
    # After (a,x): P=1, R=1/2, F1=2/3, the best; threshold (0.9 + 0.8)/2 = 0.85.
    threshold = bucc_best_threshold(candidates, gold)
    assert threshold == pytest.approx(0.85)
    assert bucc_f1(candidates, gold, threshold)["f1"] == pytest.approx(200 / 3)
    # The best cut after the last candidate keeps its score as the threshold.
    assert bucc_best_threshold([("a", "x", 0.9)], gold) == pytest.approx(0.9)
    assert bucc_best_threshold([("b", "y", 0.8)], gold) == 0.0


@pytest.mark.realdata
def test_bucc_mining_finds_planted_pairs_in_real_ids(realdata):
    ds = load_local("bucc", realdata, "zh", "validation")
    gold = [(i, g) for i, g in zip(ds["id"], ds["gold"]) if g][:20]
    rng = np.random.default_rng(0)
    english_ids = [g for _, g in gold] + [f"en-distractor-{i}" for i in range(30)]
    tgt = rng.normal(size=(len(english_ids), 16))
    src = tgt[: len(gold)] + 0.05 * rng.normal(size=(len(gold), 16))
    candidates = bucc_mine([s for s, _ in gold], src, english_ids, tgt, k=4)
    threshold = bucc_best_threshold(candidates, gold)
    assert bucc_f1(candidates, gold, threshold)["f1"] == 100.0


def test_xtreme_task_and_benchmark_scores():
    # QA: mean over languages of F1 (70) and of EM (60), then their mean: 65.
    qa = xtreme_task_score(
        "xquad", {"en": {"f1": 80, "exact_match": 70}, "de": {"f1": 60, "exact_match": 50}}
    )
    assert qa == pytest.approx(65.0)
    # Tagging: F1, not accuracy: (90 + 70) / 2 = 80.  Classification: accuracy.
    pos = xtreme_task_score("udpos", {"en": {"f1": 90, "accuracy": 95}, "de": {"f1": 70, "accuracy": 80}})
    assert pos == pytest.approx(80.0)
    assert xtreme_task_score("xnli", {"en": {"accuracy": 85}, "de": {"accuracy": 75}}) == pytest.approx(80.0)
    assert xtreme_task_score("bucc", {"de": {"f1": 60, "precision": 1, "recall": 1}}) == 60.0
    assert xtreme_score({"xquad": qa, "udpos": pos, "xnli": 77.0}) == pytest.approx(74.0)
    with pytest.raises(ValueError, match="exact_match"):
        xtreme_task_score("mlqa", {"en": {"f1": 1.0}})


def test_xtreme_score_keeps_to_xtremes_languages_and_score_all_takes_every_language():
    per_task = {
        # Welsh (cy) is no XTREME UD-POS language; Kabyle (kab) no XTREME Tatoeba language.
        "udpos": {"en": {"f1": 90.0, "accuracy": 95.0}, "de": {"f1": 70.0, "accuracy": 80.0},
                  "cy": {"f1": 20.0, "accuracy": 40.0}},
        "tatoeba": {"kab": {"accuracy": 10.0}},
        "xnli": {"de": {"accuracy": 60.0}},
    }
    xtreme_languages = {name: TASKS[name].languages for name in per_task}
    scores = xtreme_scores(per_task, xtreme_languages)
    # xtreme/score: UD-POS (90 + 70) / 2 = 80 and XNLI 60; Tatoeba has no XTREME language scored.
    assert scores == {
        "xtreme/score": pytest.approx((80.0 + 60.0) / 2),
        # xtreme/score_all: UD-POS (90 + 70 + 20) / 3 = 60, Tatoeba 10, XNLI 60.
        "xtreme/score_all": pytest.approx((60.0 + 10.0 + 60.0) / 3),
    }
    only_xtreme = {"udpos": {k: v for k, v in per_task["udpos"].items() if k != "cy"}, "xnli": per_task["xnli"]}
    assert xtreme_scores(only_xtreme, xtreme_languages) == {"xtreme/score": pytest.approx(70.0)}
    # The synthetic benchmark's languages are its own: every one counts.
    assert xtreme_scores(per_task) == {"xtreme/score": pytest.approx((60.0 + 10.0 + 60.0) / 3)}
    assert xtreme_scores({"xnli": {}}) == {}
