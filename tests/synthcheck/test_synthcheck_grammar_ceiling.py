"""The grammar-ceiling diagnostic's test sets: every grammar, English words, the same items and labels."""

import datasets

from xscale.synth import ensure
from xscale.synthcheck.grammar_ceiling import ceiling_benchmark
from xscale.synth.io import read_manifest


def test_every_language_is_realised_with_english_words(tmp_path):
    bench = ensure(tmp_path / "check", preset="tiny", seed=0)
    copy = ceiling_benchmark(bench, tmp_path / "ceiling", "xnli")
    assert read_manifest(copy)["hash"] == read_manifest(bench)["hash"]  # reuses the check's models
    original = datasets.load_from_disk(str(bench / "tasks" / "xnli"))
    data = datasets.load_from_disk(str(copy / "tasks" / "xnli"))
    assert data["train"][:] == original["train"][:] and data["test.en"][:] == original["test.en"][:]
    assert data["test.clone"][:] == original["test.en"][:]  # English grammar and English words
    english = {w for row in original["test.en"] for w in (row["premise"] + " " + row["hypothesis"]).split()}
    for lang in ("near", "vso", "sov", "inv"):
        test = data[f"test.{lang}"]
        assert test["label"] == original["test.en"]["label"]
        words = {w for row in test for w in (row["premise"] + " " + row["hypothesis"]).split()}
        own = {w for row in original[f"test.{lang}"] for w in (row["premise"] + " " + row["hypothesis"]).split()}
        # Only the words English has no counterpart for keep their own spelling (sov's accusative and
        # question particle, vso's question particle).
        assert len(words - english) <= 2 and words - english <= own, (lang, words - english)
    sov = data["test.sov"]["premise"][:20]
    inv = data["test.inv"]["premise"][:20]
    en = original["test.en"]["premise"][:20]
    assert [s.split()[::-1] for s in inv] == [s.split() for s in en]  # reversed English
    assert any(s.split() != e.split() for s, e in zip(sov, en))


def test_bad_seed_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    from xscale.synthcheck.grammar_ceiling import main

    assert main(["--out", str(tmp_path / "out"), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "seed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
