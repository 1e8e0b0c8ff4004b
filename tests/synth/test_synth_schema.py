"""Hub schemas, split names and sizes, and the tokenizer of a generated benchmark."""

import os
from pathlib import Path

import pytest
from datasets import ClassLabel, Features, List, Value

from xscale.synth import INTERMEDIATE_TASKS, LANGUAGES, PRESETS, TARGET_TASKS, load_task, load_tokenizer
from xscale.synth.tasks import CCG_TAGS, features

S, I32 = Value("string"), Value("int32")
NLI = ClassLabel(names=["entailment", "neutral", "contradiction"])
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]
SQUAD = {"id": S, "title": S, "context": S, "question": S, "answers": {"text": List(S), "answer_start": List(I32)}}
CONTRACT = {
    "mnli": {"premise": S, "hypothesis": S, "label": NLI, "idx": I32},
    "xnli": {"premise": S, "hypothesis": S, "label": NLI},
    "qqp": {"question1": S, "question2": S, "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": I32},
    "sst2": {"sentence": S, "label": ClassLabel(names=["negative", "positive"]), "idx": I32},
    "pawsx": {"id": I32, "sentence1": S, "sentence2": S, "label": ClassLabel(names=["0", "1"])},
    "udpos": {"tokens": List(S), "pos_tags": List(ClassLabel(names=UPOS))},
    "panx": {"tokens": List(S), "ner_tags": List(ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC",
                                                                    "I-LOC"])), "langs": List(S)},
    "squad": SQUAD, "squad_v2": SQUAD, "xquad": SQUAD,
    "hellaswag": {"ind": I32, "activity_label": S, "ctx_a": S, "ctx_b": S, "ctx": S, "endings": List(S),
                  "source_id": S, "split": S, "split_type": S, "label": S},
    "ccg": {"tokens": List(S), "ccg_tags": List(ClassLabel(names=list(CCG_TAGS)))},
    "tatoeba": {"source_sentence": S, "target_sentence": S, "source_lang": S, "target_lang": S},
    "bucc": {"id": S, "lang": S, "sentence": S, "gold": S},
}
"""The column/feature contract of the brief (the Hub datasets' schemas)."""
TINY = PRESETS["tiny"]
OTHERS = [lang for lang in LANGUAGES if lang != "en"]


@pytest.mark.parametrize("name", INTERMEDIATE_TASKS + TARGET_TASKS)
def test_features_follow_the_contract(tiny_bench, name):
    data = load_task(tiny_bench, name)
    for split in data.values():
        assert split.features == Features(CONTRACT[name]), name
    assert features(name) == Features(CONTRACT[name])


@pytest.mark.parametrize("name", INTERMEDIATE_TASKS + TARGET_TASKS)
def test_features_equal_the_real_readers_schema(name):
    readers = pytest.importorskip("xscale.tasks.readers")
    if name == "ccg":
        # Real CCGbank tags are free strings; the synthetic tag set is closed, so it is a ClassLabel.
        assert readers.FEATURES["ccg"]["tokens"] == features("ccg")["tokens"]
        return
    assert features(name) == readers.FEATURES[name]


def _realdata() -> Path:
    configured = os.environ.get("XSCALE_REALDATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "realdata"


@pytest.mark.realdata
@pytest.mark.parametrize("name, reader, relpath", [
    ("xnli", "read_xnli_tsv", "xnli/dev-de.tsv"), ("pawsx", "read_pawsx_tsv", "pawsx/dev-de.tsv"),
    ("udpos", "read_udpos_tsv", "udpos/dev-de.tsv"), ("xquad", "read_squad_json", "xquad/xquad.de.json"),
    ("hellaswag", "read_hellaswag_jsonl", "intermediate/hellaswag/val.preprocessed.first1000.jsonl"),
])
def test_features_equal_those_read_from_real_files(tiny_bench, name, reader, relpath):
    readers = pytest.importorskip("xscale.tasks.readers")
    path = _realdata() / relpath
    if not path.exists():
        pytest.skip(f"real data slice {path} not found (set XSCALE_REALDATA)")
    real = getattr(readers, reader)(path)
    assert load_task(tiny_bench, name)["train"].features == real.features


@pytest.mark.parametrize("name", INTERMEDIATE_TASKS)
def test_intermediate_splits(tiny_bench, name):
    data = load_task(tiny_bench, name)
    assert sorted(data) == ["train", "validation"]
    assert len(data["train"]) == TINY.intermediate_train_size
    assert len(data["validation"]) == TINY.intermediate_validation_size


@pytest.mark.parametrize("name", ["xnli", "pawsx", "udpos", "panx", "xquad"])
def test_target_splits(tiny_bench, name):
    data = load_task(tiny_bench, name)
    assert set(data) == {"train", "validation"} | {f"test.{lang}" for lang in LANGUAGES}
    assert len(data["train"]) == TINY.target_train_size
    assert all(len(data[f"test.{lang}"]) == TINY.test_size for lang in LANGUAGES)


def test_a_task_train_size_extends_that_task_only_and_keeps_its_prefix(tmp_path):
    """`task_train_sizes` gives one task more training rows; its first rows, its test sets and the
    other tasks stay as they were (item i depends only on seed, task, split and i)."""
    from xscale.synth import generate

    quick = {"corpus_tokens": 2_000, "intermediate_train_size": 6, "intermediate_validation_size": 6,
             "target_train_size": 6, "target_validation_size": 6, "test_size": 6, "retrieval_validation_size": 6}
    base = generate(tmp_path / "base", "tiny", 0, **quick)
    more = generate(tmp_path / "more", "tiny", 0, task_train_sizes={"xnli": 15}, **quick)
    a, b = load_task(base, "xnli"), load_task(more, "xnli")
    assert len(a["train"]) == 6 and len(b["train"]) == 15
    assert b["train"].select(range(6)).to_list() == a["train"].to_list()
    assert b["test.sov"].to_list() == a["test.sov"].to_list()
    assert load_task(more, "udpos")["train"].to_list() == load_task(base, "udpos")["train"].to_list()


def test_retrieval_splits(tiny_bench):
    tatoeba = load_task(tiny_bench, "tatoeba")
    assert set(tatoeba) == {f"{s}.{lang}" for s in ("validation", "test") for lang in OTHERS}
    assert len(tatoeba["test.sov"]) == TINY.test_size
    assert len(tatoeba["validation.sov"]) == TINY.retrieval_validation_size
    assert set(tatoeba["test.sov"]["source_lang"]) == {"sov"} and set(tatoeba["test.sov"]["target_lang"]) == {"en"}
    bucc = load_task(tiny_bench, "bucc")
    assert set(bucc) == set(tatoeba)
    rows = bucc["test.vso"]
    assert set(rows["lang"]) == {"vso", "en"}
    assert sum(1 for g in rows["gold"] if g) == TINY.test_size


def test_translated_intermediate_splits(tmp_path):
    from xscale.synth import generate

    quick = {"corpus_tokens": 2_000, "intermediate_train_size": 12, "intermediate_validation_size": 6,
             "target_train_size": 6, "target_validation_size": 6, "test_size": 6, "retrieval_validation_size": 6}
    bench = generate(tmp_path / "b", "tiny", 0, translate_intermediate=True, **quick)
    data = load_task(bench, "squad")
    assert set(data) == {"train", "validation"} | {f"train.{lang}" for lang in OTHERS}
    assert data["train.sov"]["id"] == data["train"]["id"]
    assert data["train.sov"]["context"] != data["train"]["context"]
    ccg = load_task(bench, "ccg")
    names = ccg["train"].features["ccg_tags"].feature.names
    flip = str.maketrans("/\\", "\\/")
    for en, inv in zip(ccg["train"]["ccg_tags"], ccg["train.inv"]["ccg_tags"]):
        # `inv` is English reversed, so its categories are English's with the slashes flipped.
        assert [names[t] for t in inv] == [names[t].translate(flip) for t in reversed(en)]


def test_tokenizer_special_tokens_and_pairs(tiny_bench):
    tok = load_tokenizer(tiny_bench)
    assert [tok.convert_ids_to_tokens(i) for i in range(4)] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert tok.mask_token_id == len(tok) - 1
    assert (tok.bos_token, tok.eos_token, tok.cls_token, tok.sep_token) == ("<s>", "</s>", "<s>", "</s>")
    row = load_task(tiny_bench, "xnli")["test.sov"][0]
    ids = tok(row["premise"], row["hypothesis"])["input_ids"]
    n_premise = len(row["premise"].split())
    assert ids[0] == 0 and ids[n_premise + 1:n_premise + 3] == [2, 2] and ids[-1] == 2
    assert len(ids) == n_premise + len(row["hypothesis"].split()) + 4


def test_every_generated_word_is_in_the_vocabulary(tiny_bench):
    vocab = load_tokenizer(tiny_bench).get_vocab()
    from xscale.synth import load_corpus

    texts = list(load_corpus(tiny_bench)["text"])
    for name, columns in (("xnli", ("premise", "hypothesis")), ("xquad", ("context", "question")),
                          ("hellaswag", ("ctx",)), ("tatoeba", ("source_sentence", "target_sentence"))):
        for split in load_task(tiny_bench, name).values():
            for column in columns:
                texts += split[column]
    for split in load_task(tiny_bench, "udpos").values():
        texts += [" ".join(t) for t in split["tokens"]]
    missing = {w for text in texts for w in text.split() if w not in vocab}
    assert not missing
