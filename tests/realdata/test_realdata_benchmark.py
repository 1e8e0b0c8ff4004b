"""The local benchmark's wiring on the real slices: zero-shot training data, evaluation splits that
never share rows with training, disjoint Tatoeba probe/score pairs and BUCC halves, the on-the-fly
tokenizer and the MLM corpus."""

import logging

import pytest
from datasets import Dataset

from xscale import data, formats
from xscale.data import real, tokenizer
from xscale.tasks.registry import get_task

from .conftest import local_spec

pytestmark = pytest.mark.realdata


def test_languages_are_those_with_files_within_the_spec_languages(bench):
    langs = {name: bench.languages(get_task(name)) for name in
             ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "bucc")}
    assert langs == {
        "xnli": ["de", "en", "sw", "zh"], "pawsx": ["de", "en", "zh"], "udpos": ["de", "en", "zh"],
        "panx": ["de", "en"], "xquad": ["de", "en", "zh"], "mlqa": ["de", "en", "zh"], "tydiqa": ["en", "sw"],
        "tatoeba": ["de", "sw", "zh"], "bucc": ["zh"],
    }


def test_zero_shot_wiring_trains_on_the_train_task_in_english(bench):
    xnli, mnli = get_task("xnli"), get_task("mnli")
    assert list(bench.train(xnli)["premise"]) == list(bench.train(mnli)["premise"])  # XNLI trains on MNLI
    assert list(bench.dev(xnli)["premise"]) == list(bench.dev(mnli)["premise"])
    assert len(bench.test(xnli, "de")) == 2490  # dev-de.tsv serves as XNLI's evaluation split
    udpos = get_task("udpos")
    assert len(bench.train(udpos)) == 21253 and len(bench.dev(udpos)) == 3974 and len(bench.test(udpos, "en")) == 5440


def test_a_dev_file_that_trains_is_halved_and_never_evaluated_on_its_training_half(spec, cache_root, caplog):
    with caplog.at_level(logging.WARNING, logger="xscale.data"):
        bench = data.make(spec, cache_root)
    assert any("pawsx has no English train file; TRAINING ON HALF OF ITS ENGLISH DEV FILE" in r.message
               for r in caplog.records)
    pawsx = get_task("pawsx")
    train, dev, test_en = bench.train(pawsx), bench.dev(pawsx), bench.test(pawsx, "en")
    assert 900 < len(train) < 1100 and len(train) + len(dev) == 2000
    # Whole groups: a sentence and its paraphrase pairs stay on one side.
    sentences = lambda ds: set(ds["sentence1"]) | set(ds["sentence2"])  # noqa: E731
    assert not sentences(train) & sentences(dev)
    assert list(test_en["sentence1"]) == list(dev["sentence1"])  # English evaluation = the held-out half only
    # The other languages are line-aligned translations: they keep the same held-out rows.
    test_de = bench.test(pawsx, "de")
    assert len(test_de) == len(dev) and list(test_de["id"]) == list(dev["id"])


def test_qa_halves_keep_contexts_whole(bench):
    tydiqa = get_task("tydiqa")  # English train file without a dev file: halved by context
    train, dev = bench.train(tydiqa), bench.dev(tydiqa)
    assert len(train) + len(dev) == 3696 and 1500 < len(train) < 2200
    assert not set(train["context"]) & set(dev["context"])
    assert list(bench.test(tydiqa, "en")["id"]) == list(dev["id"])
    xquad = get_task("xquad")  # trains on SQuAD's dev fixture halves; XQuAD itself is untouched
    assert bench._plan(xquad)[0] == real.Part("squad", "en", "validation", 0)
    assert len(bench.test(xquad, "zh")) == 1190


def test_tatoeba_probe_pairs_and_scored_pairs_are_disjoint(bench, spec):
    probe = bench.parallel(spec.probes.max_pairs)
    assert set(probe) == {"de", "sw", "zh"}
    tatoeba = get_task("tatoeba")
    for lang, (src, tgt) in probe.items():
        assert len(src) == len(tgt) == spec.probes.max_pairs
        scored = bench.test(tatoeba, lang)
        assert 0 < len(scored) <= spec.target.max_eval_examples
        assert not set(src) & set(scored["source_sentence"])
    uncapped = data.make(local_spec(bench.source.root, max_eval_examples=None), bench.cache_root)
    rows = uncapped.test(tatoeba, "de")
    assert len(rows) == 1000 - spec.probes.max_pairs
    assert rows["source_sentence"][-1] != probe["de"][0][0]


def test_bucc_threshold_half_and_scoring_half_split_source_ids(bench, caplog):
    uncapped = data.make(local_spec(bench.source.root, max_eval_examples=None), bench.cache_root)
    bucc = get_task("bucc")
    with caplog.at_level(logging.WARNING, logger="xscale.data"):
        val, test = uncapped.test(bucc, "zh", "validation"), uncapped.test(bucc, "zh", "test")
    assert any("bucc: no labelled test file for zh" in r.message for r in caplog.records)
    def ids(ds, english: bool) -> set:
        cols = ds.select_columns(["id", "lang"]).to_dict()
        return {i for i, lang in zip(cols["id"], cols["lang"]) if (lang == "en") == english}

    src = lambda ds: ids(ds, english=False)  # noqa: E731
    eng = lambda ds: ids(ds, english=True)  # noqa: E731
    assert not src(val) & src(test) and len(src(val)) + len(src(test)) == 8624
    assert eng(val) == eng(test) and len(eng(val)) == 13589  # every English sentence is a candidate in both
    gold = [g for g in val["gold"][:] + test["gold"][:] if g]
    assert len(gold) == 257
    capped = bench.test(bucc, "zh", "test")  # capped: first source sentences + their gold + distractors
    kept_en = eng(capped)
    assert all(g in kept_en for g, lang in zip(capped["gold"][:], capped["lang"][:]) if lang != "en" and g)


def test_on_the_fly_tokenizer_has_xlmr_special_tokens_and_is_cached(bench, spec, cache_root, monkeypatch):
    tok = bench.tokenizer
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == len(tok) - 1 == tokenizer.TOKENIZER_VOCAB_SIZE - 1
    ids = tok("Das ist gut.", "这是一个测试。")["input_ids"]
    # RoBERTa-style pair: <s> A </s></s> B </s>
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3 and ids.count(0) == 1
    assert any(ids[i : i + 2] == [2, 2] for i in range(1, len(ids) - 2))
    assert tok.unk_token_id not in ids
    files = list((cache_root / "tokenizers").glob("*.json"))
    assert len(files) == 1
    monkeypatch.setattr(real, "train_tokenizer", lambda *a, **k: pytest.fail("tokenizer trained again"))
    again = data.make(spec, cache_root)
    assert again.tokenizer.get_vocab() == tok.get_vocab() and again.key == bench.key


def test_corpus_is_the_local_sentences_shuffled_deterministically(bench, spec, cache_root):
    corpus = bench.corpus_texts()
    assert isinstance(corpus, Dataset) and corpus.column_names == ["text"] and len(corpus) > 10_000
    head = corpus.select(range(200))["text"]
    assert any("\u4e00" <= ch <= "\u9fff" for text in head for ch in text)  # Chinese
    assert any("ß" in t or "ä" in t or "ü" in t for t in corpus["text"][:5000])  # German
    assert data.make(spec, cache_root).corpus_texts().select(range(200))["text"] == head


def test_tokenisation_reuses_the_datasets_fingerprint_cache(bench):
    xnli = get_task("xnli")
    rows = bench.test(xnli, "de").select(range(64))
    first = formats.encode(xnli, rows, bench.tokenizer, 128, train=False)
    again = formats.encode(xnli, bench.test(xnli, "de").select(range(64)), bench.tokenizer, 128, train=False)
    assert first.cache_files and first.cache_files == again.cache_files
