"""Readers of the original file formats: Hub schema on real slices, and format edge cases."""

import pytest
from datasets import ClassLabel, List, Value

from xscale.errors import UserError
from xscale.data.local import LOCAL_LAYOUT, load_local
from xscale.tasks.readers import (
    FEATURES,
    LOCAL_READERS,
    read_bucc,
    read_panx_tsv,
    read_tatoeba,
    read_udpos_conllu,
    read_xnli_tsv,
)
from xscale.tasks.registry import NLI_LABELS, TASKS, UPOS_TAGS


def test_every_task_has_a_reader_layout_and_schema():
    assert set(LOCAL_READERS) == {t.local_reader for t in TASKS.values()}
    assert set(LOCAL_LAYOUT) == set(FEATURES) == set(TASKS)
    for name, task in TASKS.items():
        assert task.local_reader in LOCAL_READERS, name
        assert name in LOCAL_LAYOUT, name
        assert name in FEATURES, name
        if task.label_field is not None:
            assert task.label_field in FEATURES[name], name
        for column in task.text_fields:
            assert column in FEATURES[name], (name, column)


def test_schema_label_names_match_registry():
    assert FEATURES["xnli"]["label"].names == list(NLI_LABELS)
    assert FEATURES["udpos"]["pos_tags"].feature.names == list(UPOS_TAGS)
    assert len(UPOS_TAGS) == 17
    for name in ("xnli", "pawsx", "qqp", "sst2", "panx"):
        column = FEATURES[name][TASKS[name].label_field]
        names = column.feature.names if isinstance(column, List) else column.names
        assert names == list(TASKS[name].labels), name


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    conllu = tmp_path / "de_toy-ud-test.conllu"
    conllu.write_text(
        "# sent_id = 1\n"
        "1\tIch\tich\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
        "2-3\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "2\tzu\tzu\tADP\t_\t_\t4\tcase\t_\t_\n"
        "3\tdem\tder\tDET\t_\t_\t4\tdet\t_\t_\n"
        "3.1\tging\tgehen\tVERB\t_\t_\t_\t_\t_\t_\n"
        "4\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n"
        "\n",
        encoding="utf-8",
    )
    ds = read_udpos_conllu(conllu)
    assert ds[0]["tokens"] == ["Ich", "zu", "dem", "Haus"]
    names = ds.features["pos_tags"].feature.names
    assert [names[t] for t in ds[0]["pos_tags"]] == ["PRON", "ADP", "DET", "NOUN"]


def test_panx_strips_language_prefix(tmp_path):
    tsv = tmp_path / "dev-de.tsv"
    tsv.write_text("de:Anton\tB-PER\nde:liest\tO\n\nde:Berlin\tB-LOC\n", encoding="utf-8")
    ds = read_panx_tsv(tsv, "de")
    assert ds["tokens"] == [["Anton", "liest"], ["Berlin"]]
    assert ds["langs"] == [["de", "de"], ["de"]]
    assert ds["ner_tags"] == [[1, 0], [5]]


def test_bad_label_names_file_and_line(tmp_path):
    tsv = tmp_path / "dev-de.tsv"
    tsv.write_text("a\tb\tentailment\nc\td\tcontradictory\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"dev-de\.tsv:2: label 'contradictory' \(allowed: entailment"):
        read_xnli_tsv(tsv)


def test_bucc_rows_and_gold(tmp_path):
    (tmp_path / "de-en.dev.de").write_text("de-1\tHallo Welt\nde-2\tStörsatz\n", encoding="utf-8")
    (tmp_path / "de-en.dev.en").write_text("en-1\tHello world\nen-2\tNoise\n", encoding="utf-8")
    (tmp_path / "de-en.dev.gold").write_text("de-1\ten-1\n", encoding="utf-8")
    ds = load_local("bucc", tmp_path, "de", "validation")
    assert ds.features == FEATURES["bucc"]
    assert ds["id"] == ["de-1", "de-2", "en-1", "en-2"]
    assert ds["lang"] == ["de", "de", "en", "en"]
    assert ds["gold"] == ["en-1", "", "", ""]
    no_gold = read_bucc(tmp_path / "de-en.dev.de", tmp_path / "de-en.dev.en")
    assert set(no_gold["gold"]) == {""}


def test_tatoeba_line_count_mismatch(tmp_path):
    (tmp_path / "tatoeba.deu-eng.deu").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("a\n", encoding="utf-8")
    with pytest.raises(UserError, match="2 lines but tatoeba.deu-eng.eng has 1"):
        read_tatoeba(tmp_path / "tatoeba.deu-eng.deu", tmp_path / "tatoeba.deu-eng.eng")


def test_load_local_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"unknown language 'xx' \(allowed: ar, bg"):
        load_local("xnli", tmp_path, "xx", "validation")
    with pytest.raises(UserError, match=r"unknown split 'train' \(allowed: validation, test\)"):
        load_local("xquad", tmp_path, "de", "train")
    with pytest.raises(UserError, match=r"no dev-de\.tsv in"):
        load_local("xnli", tmp_path, "de", "validation")
    with pytest.raises(UserError, match="does not exist"):
        load_local("xnli", tmp_path / "missing", "de", "validation")


def test_anli_plus_train_adds_mnli_and_snli(tmp_path):
    anli = tmp_path / "intermediate" / "anli"
    mnli = tmp_path / "intermediate" / "mnli"
    snli = tmp_path / "intermediate" / "snli"
    for folder in (anli, mnli, snli):
        folder.mkdir(parents=True)
    (anli / "train_r1.jsonl").write_text(
        '{"uid": "a1", "context": "P1", "hypothesis": "H1", "label": "n"}\n', encoding="utf-8"
    )
    with pytest.raises(UserError, match="ANLI\\+ train split also needs"):
        load_local("anli", tmp_path, "en", "train")
    (mnli / "train.tsv").write_text(
        "index\tsentence1\tsentence2\tgold_label\n0\tP2\tH2\tcontradiction\n", encoding="utf-8"
    )
    (snli / "snli_1.0_train.jsonl").write_text(
        '{"gold_label": "entailment", "sentence1": "P3", "sentence2": "H3", "pairID": "9"}\n'
        '{"gold_label": "-", "sentence1": "P4", "sentence2": "H4", "pairID": "10"}\n',
        encoding="utf-8",
    )
    ds = load_local("anli", tmp_path, "en", "train")
    assert ds.features == FEATURES["anli"]
    assert ds["uid"] == ["a1", "mnli-0", "snli-9"]
    assert ds["premise"] == ["P1", "P2", "P3"]
    assert ds["label"] == [1, 2, 0]


def test_load_local_accepts_a_single_file(tmp_path):
    tsv = tmp_path / "my-ccg.tsv"
    tsv.write_text("I\tNP\nsee\t(S\\NP)/NP\nyou\tNP\n", encoding="utf-8")
    ds = load_local("ccg", tsv, "en", "train")
    assert ds.features == FEATURES["ccg"]
    assert ds[0] == {"tokens": ["I", "see", "you"], "ccg_tags": ["NP", "(S\\NP)/NP", "NP"]}


REAL_CASES = [
    # task, lang, split, expected rows (None: only non-empty)
    ("xquad", "de", "validation", 1190),
    ("xquad", "th", "validation", 1190),
    ("xquad", "zh", "validation", 1190),
    ("xnli", "de", "validation", 2490),
    ("xnli", "sw", "validation", 2490),
    ("pawsx", "de", "validation", 2000),
    ("pawsx", "ja", "validation", 2000),
    ("tatoeba", "de", "test", 1000),
    ("tatoeba", "jv", "test", 205),
    ("panx", "de", "validation", 10000),
    ("udpos", "tr", "test", None),
    ("udpos", "vi", "test", None),
    ("udpos", "zh", "test", None),
    ("mlqa", "de", "validation", 512),
    ("mlqa", "zh", "validation", 504),
    ("tydiqa", "en", "train", 3696),
    ("tydiqa", "sw", "train", 2755),
    ("sst2", "en", "validation", 872),
    ("sst2", "en", "train", 5000),
    ("mnli", "en", "validation", 48),
    ("mnli", "en", "train", 48),
    ("qqp", "en", "train", 32),
    ("qqp", "en", "validation", 32),
    ("hellaswag", "en", "validation", 1000),
    ("commonsenseqa", "en", "validation", 1221),
    ("cosmosqa", "en", "validation", 2985),
    ("anli", "en", "validation", 3198),
    ("squad", "en", "validation", 5),
    ("squad_v2", "en", "validation", 6),
]


@pytest.mark.realdata
@pytest.mark.parametrize("task,lang,split,rows", REAL_CASES)
def test_real_slices_parse_into_hub_schema(realdata, task, lang, split, rows):
    ds = load_local(task, realdata, lang, split)
    assert ds.features == FEATURES[task]
    if rows is None:
        assert len(ds) > 0
    else:
        assert len(ds) == rows


@pytest.mark.realdata
@pytest.mark.parametrize("lang", ["tr", "vi", "zh"])
def test_real_udpos_uses_the_seventeen_upos_tags(realdata, lang):
    ds = load_local("udpos", realdata, lang, "test")
    feature = ds.features["pos_tags"].feature
    assert isinstance(feature, ClassLabel) and feature.names == list(UPOS_TAGS)
    seen = {t for sent in ds["pos_tags"] for t in sent}
    assert seen <= set(range(17)) and len(seen) >= 12
    assert all(len(toks) == len(tags) for toks, tags in zip(ds["tokens"], ds["pos_tags"]))


@pytest.mark.realdata
def test_real_conllu_treebanks(realdata):
    german = read_udpos_conllu(realdata / "udpos" / "de_gsd-ud-test.conllu")
    english = read_udpos_conllu(realdata / "udpos" / "en_ewt-ud-test.conllu")
    assert german.features == english.features == FEATURES["udpos"]
    assert german[0]["tokens"][:3] == ["Der", "Hauptgang", "war"]
    # GSD splits contractions ("zum" = "zu dem"): only the syntactic words are kept.
    words = [tok for sent in german["tokens"] for tok in sent]
    assert "zum" not in words and "dem" in words
    assert len(english) > 2000


@pytest.mark.realdata
def test_real_squad_offsets_point_at_the_answers(realdata):
    cases = [("xquad", "th", "validation"), ("mlqa", "zh", "validation"), ("tydiqa", "sw", "train")]
    for task, lang, split in cases:
        ds = load_local(task, realdata, lang, split)
        for context, answers in zip(ds["context"], ds["answers"]):
            for text, start in zip(answers["text"], answers["answer_start"]):
                assert context[start : start + len(text)] == text


@pytest.mark.realdata
def test_real_squad_v2_has_an_unanswerable_question(realdata):
    ds = load_local("squad_v2", realdata, "en", "validation")
    assert any(a["text"] == [] and a["answer_start"] == [] for a in ds["answers"])


@pytest.mark.realdata
def test_real_bucc_zh_en(realdata):
    ds = load_local("bucc", realdata, "zh", "validation")
    assert ds.features == FEATURES["bucc"]
    zh = ds.filter(lambda row: row["lang"] == "zh")
    assert len(zh) == 8624 and len(ds) - len(zh) == 13589
    gold = [g for g in zh["gold"] if g]
    assert len(gold) == 257 and all(g.startswith("en-") for g in gold)
    assert set(ds.filter(lambda row: row["lang"] == "en")["gold"]) == {""}


@pytest.mark.realdata
def test_real_tatoeba_pairs(realdata):
    ds = load_local("tatoeba", realdata, "de", "test")
    assert ds[0]["source_lang"] == "deu" and ds[0]["target_lang"] == "eng"
    assert all(s and t for s, t in zip(ds["source_sentence"], ds["target_sentence"]))


@pytest.mark.realdata
def test_real_label_values(realdata):
    xnli = load_local("xnli", realdata, "de", "validation")
    assert set(xnli["label"]) == {0, 1, 2}
    anli = load_local("anli", realdata, "en", "validation")
    assert set(anli["label"]) == {0, 1, 2}
    hellaswag = load_local("hellaswag", realdata, "en", "validation")
    assert set(hellaswag["label"]) == {"0", "1", "2", "3"}
    assert all(len(e) == 4 for e in hellaswag["endings"])
    commonsense = load_local("commonsenseqa", realdata, "en", "validation")
    assert commonsense[0]["choices"]["label"] == ["A", "B", "C", "D", "E"]
    cosmos = load_local("cosmosqa", realdata, "en", "validation")
    assert set(cosmos["label"]) == {0, 1, 2, 3}
    assert FEATURES["cosmosqa"]["label"] == Value("int32")
